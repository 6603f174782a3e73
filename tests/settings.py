"""Test settings: the real settings module, fed the environment a test run needs.

Only values that tests cannot run without are given here; everything else (DATABASE_URL,
CACHE_URL, ...) comes from the environment as in production, so the same suite runs on SQLite
and on PostgreSQL + Redis.
"""

import os

os.environ.setdefault("DEBUG", "0")
os.environ.setdefault("SECRET_KEY", "tests-only-" + "x" * 50)
os.environ.setdefault("ALLOWED_HOSTS", "testserver,localhost,127.0.0.1")
# A fixed Fernet key for tests only.
os.environ.setdefault("SCAIFLOW_SECRETS_KEYS", "Z2VuZXJhdGVkLWZvci10ZXN0cy1vbmx5LTMyYnl0ZXM=")
os.environ.setdefault("SECURE_SSL_REDIRECT", "0")

from scaiflow.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
