"""Settings of the gunicorn servers the reliability scenarios start: the product's settings,
with flow versions stored under the test's own directory instead of the checkout's var/."""

import os

from scaiflow.settings import *  # noqa: F403

STORAGES = {
    **STORAGES,  # noqa: F405
    "flows": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": os.environ["RELIABILITY_FLOWS_DIR"]},
    },
}
