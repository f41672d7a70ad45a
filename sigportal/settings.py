"""Settings, read only from the environment (STYLE.md habit 10).

Every variable is listed in `.env.example`. The embedded default (no DATABASE_URL, no
REDIS_URL) is SQLite plus in-process tasks, with secrets generated under the data
directory at first start, so `make run` needs nothing else.
"""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path
from urllib.parse import urlsplit

import environ

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

DATA_DIR = Path(env.str("SIGPORTAL_DATA_DIR", default=str(BASE_DIR / "var"))).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)
KEY_DIR = DATA_DIR / "keys"


def _generated_secret(name: str) -> str:
    """A secret kept in the data directory, made at first start (never in the repo).

    Created 0600 and exclusively, so two processes starting at once agree on one value.
    """
    path = DATA_DIR / name
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(48))
    for _ in range(50):  # another process may be writing it right now
        value = path.read_text().strip()
        if value:
            return value
        time.sleep(0.1)
    raise environ.ImproperlyConfigured(f"{path} is empty")


PORT = env.int("PORT", default=8000)
PUBLIC_URL = env.str("SIGPORTAL_PUBLIC_URL", default=f"http://127.0.0.1:{PORT}").rstrip("/")
_public = urlsplit(PUBLIC_URL)
if _public.scheme not in ("http", "https") or not _public.hostname or _public.path not in ("", "/"):
    raise environ.ImproperlyConfigured(
        "SIGPORTAL_PUBLIC_URL must be http(s)://host[:port] with no path "
        "(sigstore-python drops any path prefix from the CA URL)"
    )
# The checkpoint signer name: host[:port] of the public URL (INTEROP §4.6, DESIGN.md).
PUBLIC_HOST = _public.netloc

DEBUG = env.bool("SIGPORTAL_DEBUG", default=False)
SECRET_KEY = env.str("SIGPORTAL_SECRET_KEY", default="") or _generated_secret("secret_key")

ALLOWED_HOSTS = env.list(
    "SIGPORTAL_ALLOWED_HOSTS", default=[_public.hostname, "127.0.0.1", "localhost", "[::1]"]
)

DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{DATA_DIR / 'sigportal.sqlite3'}"),
}
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("SIGPORTAL_CONN_MAX_AGE", default=60))
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The embedded default: one writer at a time, wait for the lock instead of failing.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0
IS_POSTGRES = DATABASES["default"]["ENGINE"].endswith("postgresql")
if IS_POSTGRES and env.bool("SIGPORTAL_DB_PREPARED_STATEMENTS", default=True):
    # Bind parameters on the server; the upload and issuance paths prepare their fixed
    # statements (sigportal/db.py says why only those). Turn it off behind a
    # transaction-pooling PgBouncer older than 1.21 (docs/operations.md).
    # psycopg prepares a statement only when asked (prepare=True): a threshold of None
    # would disable even that, so the automatic threshold is set out of reach.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        server_side_binding=True, prepare_threshold=2**31 - 1
    )

REDIS_URL = env.str("REDIS_URL", default="")
# Without a broker, Celery tasks run in the web process (see sigportal/inprocess.py).
TASKS_IN_PROCESS = env.bool("SIGPORTAL_TASKS_IN_PROCESS", default=not REDIS_URL)
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_TASK_ALWAYS_EAGER = TASKS_IN_PROCESS
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

# Transparency log.
TLOG_MAX_BODY_BYTES = env.int("SIGPORTAL_MAX_BODY_BYTES", default=128 * 1024)
TLOG_MAX_JSON_DEPTH = env.int("SIGPORTAL_MAX_JSON_DEPTH", default=32)
TLOG_MAX_BATCH = env.int("SIGPORTAL_MAX_BATCH", default=1024)
TLOG_CHECKPOINT_INTERVAL_SECONDS = env.int("SIGPORTAL_CHECKPOINT_INTERVAL", default=60)
TLOG_SEARCH_PAGE_SIZE = env.int("SIGPORTAL_SEARCH_PAGE_SIZE", default=1000)
for _name, _value, _low, _high in (
    ("SIGPORTAL_MAX_BODY_BYTES", TLOG_MAX_BODY_BYTES, 1024, 16 * 1024 * 1024),
    ("SIGPORTAL_MAX_JSON_DEPTH", TLOG_MAX_JSON_DEPTH, 4, 256),
    # The integrator binds one parameter per pending entry (PostgreSQL allows 65535).
    ("SIGPORTAL_MAX_BATCH", TLOG_MAX_BATCH, 1, 16384),
    ("SIGPORTAL_CHECKPOINT_INTERVAL", TLOG_CHECKPOINT_INTERVAL_SECONDS, 1, 86400),
    ("SIGPORTAL_SEARCH_PAGE_SIZE", TLOG_SEARCH_PAGE_SIZE, 1, 10000),
):
    if not _low <= _value <= _high:
        raise environ.ImproperlyConfigured(f"{_name} must be between {_low} and {_high}")
DATA_UPLOAD_MAX_MEMORY_SIZE = TLOG_MAX_BODY_BYTES

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "tlog",
    "ca",
    "accounts",
]

# The development identity provider (devidp/): a real OIDC provider for newcomers and
# tests, where anyone can sign in as any email address. On by default only in the
# embedded default served on loopback; anywhere else it takes an explicit opt-in.
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}
DEV_IDP_ENABLED = env.bool(
    "SIGPORTAL_DEV_IDP",
    default=DATABASES["default"]["ENGINE"].endswith("sqlite3") and _public.hostname in _LOOPBACK,
)

# Passphrase of the encrypted PEM keys on disk. Production sets it from a secret store;
# a passphrase generated into the data directory, next to the keys it encrypts, protects
# nothing, so only the embedded default and development instances may fall back to one.
KEY_PASSPHRASE = env.str("SIGPORTAL_KEY_PASSPHRASE", default="")
if not KEY_PASSPHRASE:
    if not (DATABASES["default"]["ENGINE"].endswith("sqlite3") or DEV_IDP_ENABLED):
        raise environ.ImproperlyConfigured(
            "set SIGPORTAL_KEY_PASSPHRASE (from your secret store): it encrypts the CA, log "
            "and policy keys, and this is not a development instance"
        )
    KEY_PASSPHRASE = _generated_secret("key_passphrase")

if DEV_IDP_ENABLED and _public.hostname not in _LOOPBACK:
    import warnings

    warnings.warn(
        "SIGPORTAL_DEV_IDP is on for a non-loopback public URL: anyone can obtain "
        "certificates for any email address from this instance",
        RuntimeWarning,
        stacklevel=1,
    )
if DEV_IDP_ENABLED:
    INSTALLED_APPS += ["oauth2_provider", "devidp"]
    from devidp.settings import configure as _configure_devidp

    _configure_devidp(globals())

# Portal sign-in: mozilla-django-oidc against one OIDC provider (accounts/backends.py).
# Users are keyed by the ID token's (iss, sub), never by email. Endpoints left empty are
# read from the issuer's discovery document at the first sign-in. With the development
# provider on it is the default, and `sigportal_init` registers the portal's client in it
# with a secret generated into the data directory.
INSTALLED_APPS += ["mozilla_django_oidc"]
AUTHENTICATION_BACKENDS = [
    "accounts.backends.PortalOIDCBackend",
    # Admin passwords, and the development provider's own sign-in form (devidp/views.py).
    "django.contrib.auth.backends.ModelBackend",
]
from devidp import issuer_for as _dev_issuer_for  # noqa: E402 (no Django import inside)

LOGIN_ISSUER = env.str("SIGPORTAL_LOGIN_ISSUER", default="").rstrip("/")
LOGIN_DEV_IDP = DEV_IDP_ENABLED and LOGIN_ISSUER in ("", _dev_issuer_for(PUBLIC_URL))
if LOGIN_DEV_IDP:
    LOGIN_ISSUER = _dev_issuer_for(PUBLIC_URL)
OIDC_RP_CLIENT_ID = env.str(
    "SIGPORTAL_LOGIN_CLIENT_ID", default="sigportal-portal" if LOGIN_DEV_IDP else ""
)
OIDC_RP_CLIENT_SECRET = env.str("SIGPORTAL_LOGIN_CLIENT_SECRET", default="") or (
    _generated_secret("login_client_secret") if LOGIN_DEV_IDP else ""
)
if LOGIN_ISSUER and not OIDC_RP_CLIENT_ID:
    raise environ.ImproperlyConfigured("SIGPORTAL_LOGIN_ISSUER needs SIGPORTAL_LOGIN_CLIENT_ID")
OIDC_OP_AUTHORIZATION_ENDPOINT = env.str("SIGPORTAL_LOGIN_AUTHORIZATION_ENDPOINT", default="")
OIDC_OP_TOKEN_ENDPOINT = env.str("SIGPORTAL_LOGIN_TOKEN_ENDPOINT", default="")
OIDC_OP_USER_ENDPOINT = env.str("SIGPORTAL_LOGIN_USERINFO_ENDPOINT", default="")
OIDC_OP_JWKS_ENDPOINT = env.str("SIGPORTAL_LOGIN_JWKS_ENDPOINT", default="")
# Pinned: an ID token signed with any other algorithm is refused (the dev provider: RS256).
OIDC_RP_SIGN_ALGO = env.str("SIGPORTAL_LOGIN_SIGN_ALGO", default="RS256")
if OIDC_RP_SIGN_ALGO not in ("RS256", "RS384", "RS512", "ES256", "ES384", "PS256"):
    raise environ.ImproperlyConfigured("SIGPORTAL_LOGIN_SIGN_ALGO must be an RS/ES/PS algorithm")
OIDC_RP_SCOPES = "openid email"
OIDC_USE_PKCE = True
OIDC_USE_NONCE = True
OIDC_TIMEOUT = env.int("SIGPORTAL_LOGIN_TIMEOUT", default=10)
if not 1 <= OIDC_TIMEOUT <= 120:
    raise environ.ImproperlyConfigured("SIGPORTAL_LOGIN_TIMEOUT must be between 1 and 120")
OIDC_AUTHENTICATE_CLASS = "accounts.views.SignInView"
OIDC_CALLBACK_CLASS = "accounts.views.SignInCallbackView"
LOGIN_URL = "/oidc/authenticate/"
LOGIN_REDIRECT_URL = "/account/"
LOGIN_REDIRECT_URL_FAILURE = "/"
LOGOUT_REDIRECT_URL = "/"
ALLOW_LOGOUT_GET_METHOD = False

# Extra OIDC issuers trusted by the CA, seeded into the database by `sigportal_init`:
# a JSON list of {"issuer_url", "kind", "audience"?, "subject_domain"?}.
OIDC_ISSUERS = env.json("SIGPORTAL_OIDC_ISSUERS", default=[])
CA_ORGANIZATION = env.str("SIGPORTAL_CA_ORGANIZATION", default=PUBLIC_HOST.split(":")[0])

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "sigportal.csp.ContentSecurityPolicyMiddleware",
]

# Compatibility routes are exact (`api/v1/log/entries`); never redirect a POST to add a slash.
APPEND_SLASH = False

ROOT_URLCONF = "sigportal.urls"
WSGI_APPLICATION = "sigportal.wsgi.application"

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

AUTH_PASSWORD_VALIDATORS: list[dict[str, str]] = []
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env.str("SIGPORTAL_STATIC_ROOT", default=str(DATA_DIR / "staticfiles")))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # WhiteNoise warns (an error in tests) if absent
# Also serve static/ from the checkout: `bin/sigportal init` (and so the live tests) never
# runs collectstatic, and the portal's pages need their CSS and verify.js.
WHITENOISE_USE_FINDERS = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if _public.scheme == "https":
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "sigportal.schema.SigportalAutoSchema",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "EXCEPTION_HANDLER": "sigportal.errors.api_exception_handler",
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "UNAUTHENTICATED_USER": None,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "sigportal API",
    "DESCRIPTION": (
        "Rekor v1-compatible transparency log, C2SP tiles and RFC 6962 CT log, a "
        "Fulcio-compatible certificate authority, and projects with their trusted signers."
    ),
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("SIGPORTAL_LOG_LEVEL", default="INFO")},
    "loggers": {"django.request": {"level": "ERROR"}},
}
