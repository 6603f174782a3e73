"""Settings of the gunicorn servers the reliability scenarios start: the product's settings,
with flow versions stored under the test's own directory instead of the checkout's var/ (unless
the scenario names S3 with SCAIFLOW_FLOW_STORAGE)."""

import os

from scaiflow.settings import *  # noqa: F403

if not SCAIFLOW_FLOW_STORAGE:  # noqa: F405 - a scenario may name S3 instead
    STORAGES = {
        **STORAGES,  # noqa: F405
        "flows": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": os.environ["RELIABILITY_FLOWS_DIR"]},
        },
    }
