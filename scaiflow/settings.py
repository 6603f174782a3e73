"""ScaiFlow settings.

Every environment variable ScaiFlow reads is read here, once, with its default next to it
(SPEC §9). An optional `.env` file at the project root is read first; real environment
variables win over it. With DEBUG off, a missing or malformed production setting stops the
process at start-up with a one-line reason.
"""

import re
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import environ
from cryptography.fernet import Fernet
from csp import constants as csp
from django.core.exceptions import ImproperlyConfigured

from scaiflow.core.allowlist import allowed_entry_parse
from scaiflow.observability.logs import logging_config

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)


def _require(name: str, value: object) -> None:
    if not value:
        raise ImproperlyConfigured(
            f"{name} must be set when DEBUG is off (see docs/operators.md, Configuration)"
        )


def _rate_check(name: str, value: str) -> None:
    # A rate the throttle could not read would fail every request it guards: stop at start-up.
    if not re.fullmatch(r"[0-9]+/(s|sec|second|m|min|minute|h|hour|d|day)", value):
        raise ImproperlyConfigured(f"{name} must look like 30/min (N/sec, N/min, N/hour, N/day)")


# --- Core Django -----------------------------------------------------------------------------

DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env.str("SECRET_KEY", default="")
if DEBUG and not SECRET_KEY:
    SECRET_KEY = "django-insecure-scaiflow-development-only"  # noqa: S105 - DEBUG only
_require("SECRET_KEY", SECRET_KEY)
ALLOWED_HOSTS = env.list(
    "ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"] if DEBUG else []
)
_require("ALLOWED_HOSTS", ALLOWED_HOSTS)
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "scaiflow",
    "tenants",
    "flows",
    "deployments",
    # Development tooling: provides `manage.py devstack`; nothing in production starts it.
    "devstack",
]

MIDDLEWARE = [
    "scaiflow.observability.middleware.RequestIDMiddleware",
    "scaiflow.observability.middleware.AccessMiddleware",  # access line and HTTP metrics
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "scaiflow.urls"
WSGI_APPLICATION = "scaiflow.wsgi.application"
ASGI_APPLICATION = "scaiflow.asgi.application"
APPEND_SLASH = False

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

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'scaiflow.sqlite3'}"),
}
DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    VAR_DIR.mkdir(exist_ok=True)
    options = DATABASES["default"].setdefault("OPTIONS", {})
    # Several threads (the dev server, the deploy worker pool) share the file: wait for a
    # lock instead of failing at once. WAL lets readers work beside the writer, and with it
    # synchronous=NORMAL is still crash-safe while not syncing the disk on every commit (a
    # deploy commits each step as it ends).
    options.setdefault("timeout", 20)
    options.setdefault("init_command", "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;")
    options.setdefault("transaction_mode", "IMMEDIATE")
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

CACHES = {"default": env.cache("CACHE_URL", default="locmemcache://scaiflow")}
# django-environ hands a Redis URL's ?key_prefix= (timeout, version) over in lower case, which
# Django ignores: without this, installations sharing one Redis would read each other's keys.
for _option in ("key_prefix", "timeout", "version"):
    if _option in CACHES["default"]:
        CACHES["default"][_option.upper()] = CACHES["default"].pop(_option)
if CACHES["default"]["BACKEND"] == "django.core.cache.backends.redis.RedisCache":
    CACHES["default"]["BACKEND"] = "scaiflow.core.cache.RedisCache"  # cheaper; survives outages

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = env.path("STATIC_ROOT", default=VAR_DIR / "static")

# --- Security (production defaults when DEBUG is off; docs/operators.md) ---------------------

SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
# Load balancers probe health over plain HTTP.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
if env.bool("SECURE_PROXY_SSL_HEADER", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=not DEBUG)
# Preloading is a commitment browsers keep for months whatever the header says later (and it
# needs includeSubDomains): the operator opts in knowingly, so `check --deploy` need not ask.
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
SILENCED_SYSTEM_CHECKS = ["security.W021"]
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
# Content-Security-Policy (django-csp) on every response: pages load scripts, styles, fonts and
# images from ScaiFlow itself only (the admin's and Swagger UI's assets are served locally), no
# inline script or style, no plugins, no framing. Swagger UI draws its icons from data: URIs.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [csp.SELF],
        "script-src": [csp.SELF],
        "style-src": [csp.SELF],
        "img-src": [csp.SELF, "data:"],
        "font-src": [csp.SELF],
        "connect-src": [csp.SELF],
        "object-src": [csp.NONE],
        "base-uri": [csp.NONE],
        "form-action": [csp.SELF],
        "frame-ancestors": [csp.NONE],
    },
}

# --- ScaiFlow --------------------------------------------------------------------------------

SCAIFLOW_API_TOKEN = env.str("SCAIFLOW_API_TOKEN", default="")
SCAIFLOW_DEFAULT_TENANT = env.str("SCAIFLOW_DEFAULT_TENANT", default="default")
SCAIFLOW_DEPLOY_AUTH = env.str("SCAIFLOW_DEPLOY_AUTH", default="jwt")
if SCAIFLOW_DEPLOY_AUTH not in ("jwt", "api_key"):
    raise ImproperlyConfigured("SCAIFLOW_DEPLOY_AUTH must be 'jwt' or 'api_key'")
# Fernet keys, comma-separated: the first encrypts, all decrypt (so keys rotate). Without any,
# DEBUG falls back to a development key kept in SCAIFLOW_DEV_SECRETS_KEY_FILE (with a warning);
# production refuses to start.
SCAIFLOW_SECRETS_KEYS = [
    key.strip() for key in env.list("SCAIFLOW_SECRETS_KEYS", default=[]) if key.strip()
]
SCAIFLOW_DEV_SECRETS_KEY_FILE = VAR_DIR / "dev-secrets.key"
_GENKEY = (
    'python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"'
)
if not DEBUG and not SCAIFLOW_SECRETS_KEYS:
    raise ImproperlyConfigured(
        "SCAIFLOW_SECRETS_KEYS must be set when DEBUG is off: stored ScaiGrid keys are "
        f"encrypted with it (generate one with `{_GENKEY}`)"
    )
for _position, _key in enumerate(SCAIFLOW_SECRETS_KEYS, start=1):
    try:
        Fernet(_key)
    except ValueError:
        # The key itself stays out of the message: it is a secret even when malformed.
        raise ImproperlyConfigured(
            f"SCAIFLOW_SECRETS_KEYS: key #{_position} is not a Fernet key "
            f"(32 url-safe base64-encoded bytes; generate one with `{_GENKEY}`)"
        ) from None
SCAIFLOW_MAX_FLOW_BYTES = env.int("SCAIFLOW_MAX_FLOW_BYTES", default=2 * 1024 * 1024)
SCAIFLOW_EVENTS_CACHE_SECONDS = env.float("SCAIFLOW_EVENTS_CACHE_SECONDS", default=2.0)
SCAIFLOW_DEPLOY_RATE = env.str("SCAIFLOW_DEPLOY_RATE", default="30/min")
# A tenant's deploys, all its principals and the legacy token together.
SCAIFLOW_DEPLOY_TENANT_RATE = env.str("SCAIFLOW_DEPLOY_TENANT_RATE", default="120/min")
for _name in ("SCAIFLOW_DEPLOY_RATE", "SCAIFLOW_DEPLOY_TENANT_RATE"):
    _rate_check(_name, globals()[_name])
SCAIFLOW_UPSTREAM_CONNECT_TIMEOUT = env.float("SCAIFLOW_UPSTREAM_CONNECT_TIMEOUT", default=3.0)
SCAIFLOW_UPSTREAM_READ_TIMEOUT = env.float("SCAIFLOW_UPSTREAM_READ_TIMEOUT", default=30.0)
# A pending deployment older than this is closed as `deploy_abandoned` (its server died).
SCAIFLOW_DEPLOY_ABANDONED_SECONDS = env.float("SCAIFLOW_DEPLOY_ABANDONED_SECONDS", default=900.0)
SCAIFLOW_PLUGIN_CATALOG = env.str("SCAIFLOW_PLUGIN_CATALOG", default="")
SCAIFLOW_FLOW_STORAGE = env.str("SCAIFLOW_FLOW_STORAGE", default="")
# Seconds an S3 call may take to connect, and to answer (flow objects are small): past it, 503.
SCAIFLOW_FLOW_STORAGE_TIMEOUT = env.float("SCAIFLOW_FLOW_STORAGE_TIMEOUT", default=5.0)

SCAIGRID_BASE_URL = env.str("SCAIGRID_BASE_URL", default="https://scaigrid.scailabs.ai")
# Where a tenant's base URL may point (the backend sends the tenant's key there): entries name a
# host and optionally a scheme, port and path prefix (scaiflow/core/allowlist.py).
SCAIGRID_ALLOWED_HOSTS = [
    entry.strip()
    for entry in env.list("SCAIGRID_ALLOWED_HOSTS", default=[SCAIGRID_BASE_URL])
    if entry.strip()
]
for _entry in SCAIGRID_ALLOWED_HOSTS:
    try:
        allowed_entry_parse(_entry)
    except ValueError as _exc:
        raise ImproperlyConfigured(f"SCAIGRID_ALLOWED_HOSTS: '{_entry}': {_exc}") from None
# Meant for development: used for a tenant without a stored key (SPEC §4 step 3).
SCAIGRID_API_KEY = env.str("SCAIGRID_API_KEY", default="")
SCAIQUEUE_BASE_URL = env.str("SCAIQUEUE_BASE_URL", default="https://scaiqueue.scailabs.ai")
SCAIVAULT_URL = env.str("SCAIVAULT_URL", default="")
SCAIVAULT_TOKEN = env.str("SCAIVAULT_TOKEN", default="")
if SCAIVAULT_URL and not SCAIVAULT_TOKEN:
    raise ImproperlyConfigured("SCAIVAULT_TOKEN must be set when SCAIVAULT_URL is set")

SCAIKEY_ISSUER = env.str("SCAIKEY_ISSUER", default="https://scaikey.scailabs.ai")
SCAIKEY_AUDIENCE = env.str("SCAIKEY_AUDIENCE", default="scaiflow")
SCAIKEY_JWKS_URL = env.str("SCAIKEY_JWKS_URL", default="")
SCAIKEY_PUBLIC_KEY = env.str("SCAIKEY_PUBLIC_KEY", default="", multiline=True)
SCAIKEY_TENANT_CLAIM = env.str("SCAIKEY_TENANT_CLAIM", default="tenant")
# A token naming a key we do not know triggers at most one JWKS refetch per this many seconds.
SCAIKEY_JWKS_REFETCH_SECONDS = 60

# --- Admin sign-in: password lockout (django-axes) and "Sign in with ScaiKey" (OIDC) -----------

INSTALLED_APPS += ["axes"]
MIDDLEWARE += ["axes.middleware.AxesMiddleware"]
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # refuses a locked-out user+address first
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "admin:login"
# Where a sign-in lands when its `next` is missing or refused (Django: /accounts/profile/).
LOGIN_REDIRECT_URL = "admin:index"
# N failed password sign-ins of one username from one address lock that pair out for M minutes.
AXES_FAILURE_LIMIT = env.int("SCAIFLOW_LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("SCAIFLOW_LOGIN_LOCKOUT_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "admin/locked_out.html"
AXES_VERBOSE = False
# "Sign in with ScaiKey" is offered once a client id is set; endpoints and keys come from
# discovery (default: SCAIKEY_ISSUER + /.well-known/openid-configuration).
SCAIKEY_OIDC_CLIENT_ID = env.str("SCAIKEY_OIDC_CLIENT_ID", default="")
SCAIKEY_OIDC_CLIENT_SECRET = env.str("SCAIKEY_OIDC_CLIENT_SECRET", default="")
SCAIKEY_OIDC_DISCOVERY_URL = env.str("SCAIKEY_OIDC_DISCOVERY_URL", default="")
# An admin session signed in with ScaiKey ends with its ID token, or after this many hours if
# sooner: memberships are read at sign-in, so this is how stale they may get.
SCAIFLOW_ADMIN_SESSION_HOURS = env.float("SCAIFLOW_ADMIN_SESSION_HOURS", default=12.0)
if SCAIFLOW_ADMIN_SESSION_HOURS <= 0:
    raise ImproperlyConfigured("SCAIFLOW_ADMIN_SESSION_HOURS must be a number of hours above 0")
# Starts of "Sign in with ScaiKey" per client address (each writes a session); over it, a 429.
SCAIFLOW_SIGN_IN_RATE = env.str("SCAIFLOW_SIGN_IN_RATE", default="20/min")
_rate_check("SCAIFLOW_SIGN_IN_RATE", SCAIFLOW_SIGN_IN_RATE)

# --- Object storage for flow versions -------------------------------------------------------


def _flow_storage(url: str) -> dict:
    """Local files under var/ by default; `s3://bucket/prefix` selects S3 (django-storages)."""
    if not url:
        return {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": VAR_DIR / "flows"},
        }
    parts = urlsplit(url)
    if parts.scheme != "s3" or not parts.netloc:
        raise ImproperlyConfigured("SCAIFLOW_FLOW_STORAGE must look like s3://bucket/prefix")
    from botocore.config import Config

    return {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": parts.netloc,
            "location": parts.path.strip("/"),
            "endpoint_url": env.str("AWS_S3_ENDPOINT_URL", default="") or None,
            "region_name": env.str("AWS_S3_REGION_NAME", default="") or None,
            "access_key": env.str("AWS_ACCESS_KEY_ID", default="") or None,
            "secret_key": env.str("AWS_SECRET_ACCESS_KEY", default="") or None,
            "default_acl": None,
            "file_overwrite": False,
            # boto's defaults (60 s timeouts, several retries) would hold a request for minutes
            # when the store is down or hangs; two short attempts, then 503 instead.
            "client_config": Config(
                connect_timeout=SCAIFLOW_FLOW_STORAGE_TIMEOUT,
                read_timeout=SCAIFLOW_FLOW_STORAGE_TIMEOUT,
                retries={"mode": "standard", "max_attempts": 2},
            ),
        },
    }


STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    "flows": _flow_storage(SCAIFLOW_FLOW_STORAGE),
}

# --- REST framework and OpenAPI --------------------------------------------------------------

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "tenants.authentication.SharedTokenAuthentication",
        "tenants.authentication.ScaiKeyJWTAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["scaiflow.core.parsers.JSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PAGINATION_CLASS": "scaiflow.core.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "scaiflow.core.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "scaiflow.core.schema.ScaiflowAutoSchema",
    "DEFAULT_METADATA_CLASS": "scaiflow.core.metadata.Metadata",
    "DEFAULT_THROTTLE_RATES": {"deploy": SCAIFLOW_DEPLOY_RATE},
    "UNAUTHENTICATED_USER": None,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "ScaiFlow API",
    "DESCRIPTION": "Save canvas flows, compile them to ScaiCore manifests, deploy them.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- Observability: metrics and traces (docs/operators.md, Monitoring) -----------------------

# Unset: /metrics answers 404. Set: Prometheus sends it as a bearer token.
SCAIFLOW_METRICS_TOKEN = env.str("SCAIFLOW_METRICS_TOKEN", default="")
# Under gunicorn: a directory the workers share (emptied before start), so values add up.
# prometheus-client reads it from the environment itself; it is read here to check it.
PROMETHEUS_MULTIPROC_DIR = env.str("PROMETHEUS_MULTIPROC_DIR", default="")
if PROMETHEUS_MULTIPROC_DIR and not Path(PROMETHEUS_MULTIPROC_DIR).is_dir():
    raise ImproperlyConfigured("PROMETHEUS_MULTIPROC_DIR must name an existing directory")
# Set (e.g. http://otel-collector:4318): traces go there over OTLP/HTTP. Unset: no tracing.
OTEL_EXPORTER_OTLP_ENDPOINT = env.str("OTEL_EXPORTER_OTLP_ENDPOINT", default="")
OTEL_SERVICE_NAME = env.str("OTEL_SERVICE_NAME", default="scaiflow")

# --- Logging: every line of a request carries its request id ---------------------------------

LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
# `json`: one JSON object per line, for log shippers; `plain` reads better in a terminal.
LOG_FORMAT = env.str("LOG_FORMAT", default="plain")
if LOG_FORMAT not in ("plain", "json"):
    raise ImproperlyConfigured("LOG_FORMAT must be 'plain' or 'json'")
LOGGING_CONFIG = "scaiflow.observability.logs.configure_logging"
LOGGING = logging_config(level=LOG_LEVEL, log_format=LOG_FORMAT)
