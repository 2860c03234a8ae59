"""
Settings for the connectathon payer sandbox.

Every knob comes from the environment and has an embedded default that suits a developer
laptop (SQLite, the filesystem broker, DEBUG on). `.env.example` lists them all; production
safety is enforced by the system checks in sandbox/checks.py, not by missing defaults.
"""

from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url

from sandbox.environment import env_bool, env_int, env_list, env_secret, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(env_str("SANDBOX_DATA_DIR", str(BASE_DIR / "var"))).resolve()

INSECURE_SECRET_KEY = "dev-only-not-secret"
SECRET_KEY = env_secret("SECRET_KEY", INSECURE_SECRET_KEY)
DEBUG = env_bool("DEBUG", True)

SANDBOX_PUBLIC_URL = env_str("SANDBOX_PUBLIC_URL", "http://127.0.0.1:8000").rstrip("/")
SANDBOX_TLS_PUBLIC_URL = env_str("SANDBOX_TLS_PUBLIC_URL", "https://localhost:8443").rstrip("/")

_public_hosts = {urlsplit(SANDBOX_PUBLIC_URL).hostname, urlsplit(SANDBOX_TLS_PUBLIC_URL).hostname}
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS") or sorted(
    {"localhost", "127.0.0.1", "[::1]", "testserver"} | {h for h in _public_hosts if h}
)
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS") or [
    SANDBOX_PUBLIC_URL,
    SANDBOX_TLS_PUBLIC_URL,
]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "oauth2_provider",
    "sandbox",
    "tenants",
    "sandbox.fhirstore",
    "sandbox.trust",
    "sandbox.oauth",
    "sandbox.seeding",
    "sandbox.bulk",
    "sandbox.attribution",
    "sandbox.payer2payer",
    "sandbox.formulary",
    "sandbox.api",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Before the tenant scope: the directory is global, and request.mtls must exist for every view.
    "sandbox.trust.middleware.ClientCertMiddleware",
    "tenants.middleware.TenantPathMiddleware",
]

ROOT_URLCONF = "sandbox.urls"
TENANT_URLCONF = "sandbox.tenant_urls"
WSGI_APPLICATION = "sandbox.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# Database: SQLite in WAL mode is the embedded default; PostgreSQL (psycopg 3) in production.
DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{DATA_DIR / 'sandbox.sqlite3'}")
# Connections are kept for a minute: opening one costs PostgreSQL a process and the request
# several milliseconds, more than a FHIR read takes (bench/fhir_api.py). Nothing outlives a
# request on them: the tenant setting of row-level security is transaction-local. Health
# checks cost every request one more round trip, so they are opt-in; without them a request
# that finds its connection closed by the server fails once and the connection is replaced.
DATABASES = {
    "default": dj_database_url.parse(
        DATABASE_URL,
        conn_max_age=env_int("CONN_MAX_AGE", 60),
        conn_health_checks=env_bool("CONN_HEALTH_CHECKS", False),
    )
}
# The statements every API request makes are prepared once per connection on PostgreSQL
# (tenants.row_lookup). Turn it off behind a pooler in transaction mode, which may send the
# next statement to another server connection: PgBouncer's max_prepared_statements follows
# protocol-level statements only, not the EXECUTEs these requests also send.
DB_PREPARED_STATEMENTS = env_bool("DB_PREPARED_STATEMENTS", True)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    DATABASES["default"]["OPTIONS"] = {
        # IMMEDIATE avoids the lock upgrade that makes concurrent writers fail with
        # "database is locked"; WAL lets readers run beside the writer (tech-notes §3).
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA busy_timeout=10000; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Cache: shared by every process (web, tls, worker), which replay caches need.
CACHE_URL = env_str("CACHE_URL", "db://sandbox_cache")
if CACHE_URL.startswith(("redis://", "rediss://")):
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CACHE_URL}}
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": CACHE_URL.removeprefix("db://") or "sandbox_cache",
        }
    }

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = DATA_DIR / "static"
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("BEHIND_PROXY", False) else None

# Processes
WEB_CONCURRENCY = env_int("WEB_CONCURRENCY", 1)
SANDBOX_DEMO_PASSWORD = env_secret("SANDBOX_DEMO_PASSWORD", "")
# Members seeded into a new payer when the form, the API or --members gives none.
SANDBOX_DEFAULT_MEMBERS = env_int("SANDBOX_DEFAULT_MEMBERS", 100)

# Mutual TLS: where the verified client certificate comes from (tech-notes §1).
MTLS_SOURCE = env_str("MTLS_SOURCE", "socket")  # "socket" (gunicorn TLS) or "proxy" (nginx header)
MTLS_TRUSTED_PROXIES = env_list("MTLS_TRUSTED_PROXIES")
TLS_DIR = DATA_DIR / "tls"

# Per-tenant files (exports, uploads) live under TENANT_FILES_DIR/<tenant id>/.
TENANT_FILES_DIR = Path(env_str("TENANT_FILES_DIR", str(DATA_DIR / "tenants")))

# Celery: the filesystem broker is the embedded default, Redis in production (tech-notes §3).
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "filesystem://")
CELERY_BROKER_DIR = DATA_DIR / "broker"
if CELERY_BROKER_URL.startswith("filesystem://"):
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_BROKER_DIR / "queue"),
        "data_folder_out": str(CELERY_BROKER_DIR / "queue"),
        "control_folder": str(CELERY_BROKER_DIR / "control"),
        "processed_folder": str(CELERY_BROKER_DIR / "processed"),
        "store_processed": False,
        "polling_interval": 0.05,
    }
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_EAGER_PROPAGATES = CELERY_TASK_ALWAYS_EAGER
# Job state lives on our own models (TenantJob, ExportJob), so results are not stored.
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 60 * 60)
CELERY_TASK_SOFT_TIME_LIMIT = CELERY_TASK_TIME_LIMIT - 60
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE = {
    # Expired exports are deleted, and exports whose worker died are queued again.
    "prune-exports": {"task": "sandbox.bulk.tasks.prune_exports_task", "schedule": 300.0},
    # Paging snapshots of sorted searches outlive FHIR_SEARCH_SNAPSHOT_TTL only until this runs.
    "prune-search-snapshots": {"task": "sandbox.fhirstore.tasks.prune_search_snapshots_task", "schedule": 3600.0},
}

# Bulk Data export (sandbox/bulk): where finished files are kept (a dotted path to an
# ExportStorage), how files are split, how long finished exports live unless a payer sets its
# own expiry, and after how many seconds without a heartbeat a job counts as abandoned.
EXPORT_STORAGE = env_str("EXPORT_STORAGE", "sandbox.bulk.storage.LocalStorage")
EXPORT_S3_BUCKET = env_str("EXPORT_S3_BUCKET", "")
EXPORT_S3_PREFIX = env_str("EXPORT_S3_PREFIX", "exports")
EXPORT_S3_ENDPOINT_URL = env_str("EXPORT_S3_ENDPOINT_URL", "")
EXPORT_FILE_MAX_LINES = env_int("EXPORT_FILE_MAX_LINES", 100_000)
EXPORT_FILE_MAX_BYTES = env_int("EXPORT_FILE_MAX_BYTES", 256 * 1024 * 1024)
EXPORT_EXPIRY_MINUTES = env_int("EXPORT_EXPIRY_MINUTES", 60)
EXPORT_CHUNK_IDS = env_int("EXPORT_CHUNK_IDS", 50_000)
EXPORT_STALE_SECONDS = env_int("EXPORT_STALE_SECONDS", 60)

# django-oauth-toolkit: every model is swapped for a tenant-owned one (tech-notes §2).
OAUTH2_PROVIDER_APPLICATION_MODEL = "oauth.Application"
OAUTH2_PROVIDER_ACCESS_TOKEN_MODEL = "oauth.AccessToken"
OAUTH2_PROVIDER_REFRESH_TOKEN_MODEL = "oauth.RefreshToken"
OAUTH2_PROVIDER_ID_TOKEN_MODEL = "oauth.IDToken"
OAUTH2_PROVIDER_GRANT_MODEL = "oauth.Grant"
OAUTH2_PROVIDER_DEVICE_GRANT_MODEL = "oauth.DeviceGrant"
OAUTH2_PROVIDER = {
    "PKCE_REQUIRED": True,
    # Per tenant (Tenant.access_token_lifetime); this is only DOT's fallback.
    "ACCESS_TOKEN_EXPIRE_SECONDS": 300,
    "OAUTH2_VALIDATOR_CLASS": "sandbox.oauth.validators.SandboxOAuth2Validator",
    "SCOPES_BACKEND_CLASS": "sandbox.oauth.scopes.SmartScopes",
    "OAUTH2_BACKEND_CLASS": "sandbox.oauth.backends.SandboxOAuthLibCore",
    "ALLOWED_REDIRECT_URI_SCHEMES": ["http", "https"],
}

# The management API (/api/v1/): personal API tokens first, so an anonymous call gets 401 with
# a WWW-Authenticate challenge; the dashboard session works too.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Connectathon payer sandbox management API",
    "DESCRIPTION": "Create payers, mint tokens, register participants and run payer-to-payer exchanges.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
}

# FHIR API limits: request bodies above FHIR_MAX_BODY_BYTES get 413; searches page by
# FHIR_DEFAULT_PAGE_SIZE (clients may ask up to FHIR_MAX_PAGE_SIZE); a sorted search keeps at
# most FHIR_SEARCH_SNAPSHOT_LIMIT result ids for its stable paging, for FHIR_SEARCH_SNAPSHOT_TTL
# seconds (python manage.py prune_search_snapshots removes older ones).
FHIR_MAX_BODY_BYTES = env_int("FHIR_MAX_BODY_BYTES", 20 * 1024 * 1024)
FHIR_DEFAULT_PAGE_SIZE = env_int("FHIR_DEFAULT_PAGE_SIZE", 50)
FHIR_MAX_PAGE_SIZE = env_int("FHIR_MAX_PAGE_SIZE", 1000)
FHIR_SEARCH_SNAPSHOT_LIMIT = env_int("FHIR_SEARCH_SNAPSHOT_LIMIT", 10000)
FHIR_SEARCH_SNAPSHOT_TTL = env_int("FHIR_SEARCH_SNAPSHOT_TTL", 24 * 3600)
# Transaction bundles and uploads are read by the FHIR views themselves under the limit above.
DATA_UPLOAD_MAX_MEMORY_SIZE = max(FHIR_MAX_BODY_BYTES, 2621440)

LOG_LEVEL = env_str("LOG_LEVEL", "INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    # The handler's level too: records of Django's own loggers (django.request's 404 warnings)
    # reach it by propagation, which the root logger's level does not filter.
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain", "level": LOG_LEVEL}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}
