"""
Settings for the test suite: sandbox.settings with the environment defaults a test run needs.

Plain `pytest` runs on SQLite with eager Celery. The PostgreSQL pass of `make test` sets
DATABASE_URL and CELERY_BROKER_URL; tests marked `celery` then start a real worker.
"""

import os
import tempfile

os.environ.setdefault("CELERY_TASK_ALWAYS_EAGER", "true")
os.environ.setdefault("SANDBOX_DATA_DIR", tempfile.mkdtemp(prefix="sandbox-test-"))
os.environ.setdefault("CACHE_URL", "db://sandbox_cache")
# Every provisioning seeds a payer; the designed members alone keep the suite fast.
os.environ.setdefault("SANDBOX_DEFAULT_MEMBERS", "4")

from sandbox.settings import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
