"""LeadFlow settings: one module, read from the environment (see leadflow/env.py).

The contract's variables: DATABASE_URL, REDIS_URL, EMAIL_URL, SECRET_KEY, DEBUG,
ALLOWED_HOSTS. Everything else has a sensible default.
"""

from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import dj_database_url
from csp.constants import NONCE, NONE, SELF, UNSAFE_INLINE
from django.core.exceptions import ImproperlyConfigured

from leadflow.devstack import running_urls
from leadflow.env import email_settings, env_bool, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set (or DEBUG=true for local development)")
    SECRET_KEY = "insecure-local-development-key-do-not-use-in-production"  # noqa: S105
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

# Unset beside a running `make run`: its embedded servers (so `manage.py` just works).
_EMBEDDED = {} if env_str("DATABASE_URL") and env_str("REDIS_URL") else running_urls()
DATABASE_URL = env_str("DATABASE_URL") or _EMBEDDED.get("DATABASE_URL", "")
if not DATABASE_URL:
    raise ImproperlyConfigured(
        "DATABASE_URL is not set: start LeadFlow with `make run` / `make test` (which start an "
        "embedded PostgreSQL) or set it, e.g. postgres://user:password@host:5432/leadflow"
    )
DATABASES = {
    "default": dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True)
}
if DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
    raise ImproperlyConfigured("LeadFlow needs PostgreSQL: DATABASE_URL must be postgres://...")
# Dashboards may read a replica (dashboards.selectors.filters.db_alias); without it they
# read the main database.
DASHBOARD_DATABASE_URL = env_str("DASHBOARD_DATABASE_URL")
if DASHBOARD_DATABASE_URL and DASHBOARD_DATABASE_URL != DATABASE_URL:
    DATABASES["dashboard"] = dj_database_url.parse(
        DASHBOARD_DATABASE_URL, conn_max_age=60, conn_health_checks=True
    )
    DATABASES["dashboard"]["TEST"] = {"MIRROR": "default"}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env_str("REDIS_URL") or _EMBEDDED.get("REDIS_URL", "")
if not REDIS_URL:
    raise ImproperlyConfigured(
        "REDIS_URL is not set: start LeadFlow with `make run` / `make test` (which start an "
        "embedded Redis) or set it, e.g. redis://host:6379/0"
    )

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "template_partials",
    "leadflow",
    "leads",
    "scoring",
    "nurturing",
    "handoff",
    "dashboards",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Before anything reads the body: a chunked one is read in, NUL characters refused.
    "leadflow.middleware.ReadChunkedBodies",
    "leadflow.middleware.RefuseNulCharacters",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "leadflow.urls"
WSGI_APPLICATION = "leadflow.wsgi.application"

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
                "leads.context_processors.roles",
            ],
        },
    },
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "leads:list"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# STATIC_URL must be relative: the live test server breaks on an absolute one.
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "var" / "static"
# Third-party front-end code comes pinned from npm (package.json), never copied in.
STATICFILES_DIRS = [
    ("vendor/htmx", BASE_DIR / "node_modules" / "htmx.org" / "dist"),
    ("vendor/chart.js", BASE_DIR / "node_modules" / "chart.js" / "dist"),
]
MEDIA_ROOT = BASE_DIR / "var" / "media"  # uploaded import files
MEDIA_URL = "media/"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# HTTPS=true: LeadFlow is served over HTTPS (usually behind a proxy that terminates TLS
# and sets X-Forwarded-Proto): plain HTTP is redirected, browsers are told to stay on HTTPS
# (HSTS), and cookies are sent over HTTPS only (SECURE_COOKIES overrides that one).
HTTPS = env_bool("HTTPS", False)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", not DEBUG and HTTPS)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
if HTTPS:
    SECURE_SSL_REDIRECT = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]  # probed over plain HTTP inside the network
    SECURE_HSTS_SECONDS = env_int("HSTS_SECONDS", 31_536_000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("HSTS_INCLUDE_SUBDOMAINS", False)
    # Covering every subdomain, and the browsers' preload list, are the domain owner's
    # decisions (HSTS_INCLUDE_SUBDOMAINS): not warnings about LeadFlow's own set-up.
    SILENCED_SYSTEM_CHECKS = ["security.W005", "security.W021"]

# Content-Security-Policy (django-csp): scripts only from LeadFlow's own static files —
# no inline script, no eval (htmx runs with allowEval off; page behaviour is in
# leadflow/static/leadflow/app.js). A template that must inline a script (the API docs'
# Swagger UI set-up) asks for the request's nonce; no other page gets one. Styles may
# be inline ('unsafe-inline': style attributes, the public form pages' <style>, chart.js
# and Swagger UI set them): they cannot run code.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF, UNSAFE_INLINE],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "leadflow",
    }
}

globals().update(email_settings(env_str("EMAIL_URL")))
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "LeadFlow <leadflow@localhost>")

# Web-to-lead forms: submissions per IP and form per minute before a 429.
FORM_RATE_LIMIT = env_int("FORM_RATE_LIMIT", 10)

# Sign-in throttling (leadflow.auth): failures allowed per account and per address within
# the lockout window before further attempts are refused.
LOGIN_FAILURES_PER_ACCOUNT = env_int("LOGIN_FAILURES_PER_ACCOUNT", 5)
LOGIN_FAILURES_PER_ADDRESS = env_int("LOGIN_FAILURES_PER_ADDRESS", 20)
LOGIN_LOCKOUT_SECONDS = env_int("LOGIN_LOCKOUT_SECONDS", 900)

# Rescoring every lead (after a scoring model change, and the hourly decay) runs this
# many batches side by side, each on its own database connection.
RESCORE_CONNECTIONS = env_int("RESCORE_CONNECTIONS", 2)
if RESCORE_CONNECTIONS < 1:
    raise ImproperlyConfigured(f"RESCORE_CONNECTIONS={RESCORE_CONNECTIONS}: must be 1 or more")

# --- Nurturing --------------------------------------------------------------------
# Links in emails (unsubscribe, tracking) point here: the address people reach LeadFlow at.
SITE_URL = env_str("SITE_URL", "http://127.0.0.1:8000")
if not SITE_URL.startswith(("http://", "https://")):
    raise ImproperlyConfigured(f"SITE_URL={SITE_URL!r}: must start with http:// or https://")
# At most NURTURE_CAP marketing emails per lead in a rolling 7 days (calls, emails and
# meetings reps log count too); none while a rep touched the lead in the last N days.
NURTURE_CAP = env_int("NURTURE_CAP", 3)
NURTURE_TOUCH_PAUSE_DAYS = env_int("NURTURE_TOUCH_PAUSE_DAYS", 3)
# A lead with neither a time zone nor a country gets its emails in this zone's hours.
NURTURE_DEFAULT_TIME_ZONE = env_str("NURTURE_DEFAULT_TIME_ZONE", "UTC")
try:
    ZoneInfo(NURTURE_DEFAULT_TIME_ZONE)
except (ZoneInfoNotFoundError, ValueError):
    raise ImproperlyConfigured(
        f"NURTURE_DEFAULT_TIME_ZONE={NURTURE_DEFAULT_TIME_ZONE!r} is not a time zone "
        "(use an IANA name, e.g. Europe/Berlin)"
    ) from None
# A send failing temporarily is retried after NURTURE_RETRY_SECONDS, doubling each try
# (at most an hour), and marked failed after NURTURE_MAX_TRIES tries.
NURTURE_RETRY_SECONDS = env_int("NURTURE_RETRY_SECONDS", 60)
NURTURE_MAX_TRIES = env_int("NURTURE_MAX_TRIES", 5)
if NURTURE_CAP < 1 or NURTURE_MAX_TRIES < 1:
    raise ImproperlyConfigured("NURTURE_CAP and NURTURE_MAX_TRIES must be 1 or more")

# --- API ------------------------------------------------------------------------
# The largest JSON body the API parses; bigger bodies get a 400 before any work.
API_MAX_BODY_BYTES = env_int("API_MAX_BODY_BYTES", 64 * 1024)
# The largest CSV file an import accepts (bytes); bigger uploads get a clear 400.
IMPORT_MAX_BYTES = env_int("IMPORT_MAX_BYTES", 200 * 1024 * 1024)
# Uploaded CSV files are removed this many days after their import finished (or after
# the upload, for one never started); the import's outcome and its undo stay.
IMPORT_KEEP_DAYS = env_int("IMPORT_KEEP_DAYS", 30)
# The key of the hashes kept of erased people's emails (HMAC-SHA256): set it apart from
# SECRET_KEY, or rotating SECRET_KEY forgets who was erased (old lists bring them back).
ERASURE_HASH_KEY = env_str("ERASURE_HASH_KEY") or SECRET_KEY
# The New lead page's duplicate checks (one per pause in typing) per user and minute.
DUPLICATE_CHECKS_PER_MINUTE = env_int("DUPLICATE_CHECKS_PER_MINUTE", 120)
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "leads.api.authentication.TokenWithRolesAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": [
        "leadflow.api.LimitedJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "leadflow.api.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "LeadFlow API",
    "DESCRIPTION": "Capture, score, nurture and hand off leads. Token or session auth.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Choice sets used by more than one field get one name in the schema.
    "ENUM_NAME_OVERRIDES": {"HandoffReasonEnum": "handoff.models.Handoff.Reason"},
}

# --- Celery -----------------------------------------------------------------------
CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = REDIS_URL
CELERY_RESULT_EXPIRES = 3600
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# One scheduler pass (`manage.py tick`) every TICK_SECONDS, driven by beat.
TICK_SECONDS = env_int("TICK_SECONDS", 60)
CELERY_BEAT_SCHEDULE = {
    "tick": {"task": "leadflow.tasks.tick", "schedule": float(TICK_SECONDS)},
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}
