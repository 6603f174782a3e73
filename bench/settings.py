"""Benchmark-only settings: the product's settings with a URLconf that adds the baseline view."""

from scaiflow.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
