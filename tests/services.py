"""Which outside services this test run has: PostgreSQL, Redis, a browser."""

import os
import shutil
import socket
from urllib.parse import urlsplit

from django.conf import settings
from django.db import connection

# Markers whose service must be present (bin/test-all sets this under CI, per pass): a test
# carrying one of them then fails instead of skipping when its service is missing.
REQUIRED = {m.strip() for m in os.environ.get("SANDBOX_REQUIRE_SERVICES", "").split(",") if m.strip()}

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")


def redis_url():
    for candidate in (os.environ.get("REDIS_URL"), settings.CELERY_BROKER_URL):
        if candidate and candidate.startswith("redis://"):
            return candidate
    return None


def _reachable(url, default_port):
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or default_port), timeout=1):
            return True
    except OSError:
        return False


def missing(marker):
    """Why a test with `marker` cannot run here, or None when it can."""
    if marker == "postgres":
        if connection.vendor != "postgresql":
            return "needs PostgreSQL: run with DATABASE_URL=postgres://... (the second pass of `make test`)"
    elif marker == "redis":
        url = redis_url()
        if url is None:
            return "needs Redis: run with CELERY_BROKER_URL=redis://... (the second pass of `make test`)"
        if not _reachable(url, 6379):
            return f"Redis is not reachable at {url}"
    elif marker == "celery":
        return missing("postgres") or missing("redis")
    elif marker == "browser":
        if not shutil.which(CHROMIUM) and not os.path.exists(CHROMIUM):
            return f"needs Chromium at {CHROMIUM} (make test installs Debian's chromium package)"
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            return "needs the playwright package (requirements-dev.txt)"
    return None
