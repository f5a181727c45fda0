"""Smolpix settings.

Every difference between environments comes from environment variables (or a `.env` file),
read with django-environ, strictly (smolpix.environment). With nothing configured the project runs on embedded defaults:
SQLite, a local-memory cache, Celery tasks run eagerly in-process and e-mail to the console.
`.env.example` lists every variable.
"""

import math
from datetime import timedelta
from pathlib import Path

from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

from smolpix.environment import Env, read_env_file

BASE_DIR = Path(__file__).resolve().parent.parent

env = Env()
read_env_file(BASE_DIR)

DEBUG = env.bool("DEBUG", default=True)

# A development key is only acceptable while DEBUG is on; production must bring its own.
SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    SECRET_KEY = "insecure-development-key-do-not-use-in-production"  # noqa: S105

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"] if DEBUG else [])
if not DEBUG and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS must be set when DEBUG is off.")
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
CSRF_FAILURE_VIEW = "smolpix.views.csrf_failure"  # the site's 403 page, not Django's bare one

INSTALLED_APPS = [
    "accounts.apps.AdminConfig",  # django.contrib.admin, with a second factor for staff
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "smolpix.devserver",  # its runserver (make run) first: JSON refusals, on WhiteNoise's below
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_ratelimit",
    "accounts.apps.SignInAttemptsConfig",  # axes, named for the admin (as the two below)
    "django_otp",
    "accounts.apps.AuthenticatorAppsConfig",  # django_otp.plugins.otp_totp
    "accounts.apps.BackupCodesConfig",  # django_otp.plugins.otp_static
    "accounts",
    "apikeys",
    "billing",
    "optimizer",
    "usage",
]

MIDDLEWARE = [
    "smolpix.middleware.RequestLogMiddleware",
    "smolpix.middleware.ApiOverHttpsOnlyMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Early, so that the answers of the middleware below (/healthz's) carry it too.
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "smolpix.middleware.ContentSecurityPolicyMiddleware",
    "smolpix.middleware.HealthCheckMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "smolpix.middleware.ApiHostMiddleware",
    "smolpix.middleware.SiteUrlMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "smolpix.middleware.SignedInPagesArePrivate",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # Last, as django-axes asks: it turns a locked-out sign-in into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "smolpix.urls"
WSGI_APPLICATION = "smolpix.wsgi.application"

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
                "smolpix.context_processors.origin",
            ],
        },
    },
]

# --- Data stores --------------------------------------------------------------------------

DATABASES = {"default": env.db_url("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60, minimum=0)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# Seconds a process waits for one answer from PostgreSQL, and to connect to it (0: as long as it
# takes): one that accepts connections and never answers costs a request that long, then a 503,
# not every request and thread until it is back (smolpix/postgresql).
DATABASE_TIMEOUT = env.float("DATABASE_TIMEOUT", default=5.0, minimum=0)
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"]["ENGINE"] = "smolpix.postgresql"
    if DATABASE_TIMEOUT:  # libpq's connect_timeout: whole seconds, at least 2
        DATABASES["default"].setdefault("OPTIONS", {}).setdefault(
            "connect_timeout", max(2, math.ceil(DATABASE_TIMEOUT))
        )
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # runserver answers in threads, and SQLite has one writer at a time: a writer waits for the
    # lock (timeout, seconds) instead of failing with "database is locked"; transactions take the
    # write lock when they begin, so two cannot both read and then both want to write; WAL lets
    # readers go on while one writes.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL;",
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# Under DEBUG: Django's debug page, which raised again on a form body it had refused (see there).
DEFAULT_EXCEPTION_REPORTER = "smolpix.debug_page.ExceptionReporter"

REDIS_URL = env.redis_url("REDIS_URL")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {
                # Fail fast when Redis is down, so callers can degrade instead of hanging.
                "SOCKET_CONNECT_TIMEOUT": 1,
                "SOCKET_TIMEOUT": 1,
            },
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    # django-ratelimit rightly warns that a local-memory cache is not shared between processes.
    # The embedded defaults run one process, where it counts exactly; real deployments set REDIS_URL.
    SILENCED_SYSTEM_CHECKS = ["django_ratelimit.E003", "django_ratelimit.W001"]

# --- Celery -------------------------------------------------------------------------------

CELERY_BROKER_URL = env.redis_url("CELERY_BROKER_URL", default=REDIS_URL)
# Without a broker every task runs eagerly in the calling process (the embedded default).
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default="") or REDIS_URL or None
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_RESULT_EXPIRES = 3600
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=50, minimum=1)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=60, minimum=1)
if CELERY_TASK_SOFT_TIME_LIMIT >= CELERY_TASK_TIME_LIMIT:
    # Celery refuses such a task when it is sent: every optimization was a 500, the service healthy.
    raise ImproperlyConfigured("CELERY_TASK_SOFT_TIME_LIMIT must be less than CELERY_TASK_TIME_LIMIT.")
# A task is acknowledged after it ran, so a worker lost mid-task does not lose queued work.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = False
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# A worker takes a message only when one of its processes is free: none waits in the main process,
# where a worker killed outright (SIGKILL) would keep it from every other worker until Redis's
# visibility timeout, its request answered 503 after the queue timeout.
CELERY_WORKER_DISABLE_PREFETCH = True
CELERY_WORKER_MAX_TASKS_PER_CHILD = env.int("CELERY_WORKER_MAX_TASKS_PER_CHILD", default=200, minimum=1)
# The prefork pool (what `--pool prefork` names), looked after more often than Celery's own: see smolpix.pool.
CELERY_WORKER_POOL = "smolpix.pool:TaskPool"
# Worker processes per `celery worker` (prefork pool); unset means one per CPU core.
CELERY_WORKER_CONCURRENCY = env.int("CELERY_WORKER_CONCURRENCY", default=None, minimum=1)
# A task that lost its broker connection cannot be acknowledged and will be delivered again: stop it.
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Redis that hangs (accepts connections, never answers) must cost seconds, not minutes: socket
# timeouts on the broker, the result store and every connection attempt, and few publish retries.
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_BROKER_TRANSPORT_OPTIONS = {"socket_timeout": 5, "socket_connect_timeout": 2, "visibility_timeout": 3600}
CELERY_REDIS_SOCKET_TIMEOUT = 5
CELERY_REDIS_SOCKET_CONNECT_TIMEOUT = 2
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.5, "interval_max": 1}
# And as few reconnections of the result store (Celery's default: 20, a second apart), which a
# request waiting for its result makes while it holds its web thread. Giving up, Celery logs a
# CRITICAL "must be restarted": untrue here, the next request connects afresh.
CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = {"retry_policy": CELERY_TASK_PUBLISH_RETRY_POLICY}
# A child whose peak memory went above this (KiB; billiard reads ru_maxrss after each task) is
# replaced before its next task. Every accepted image keeps a child under 1 GiB while it runs
# (optimizer/budget.py); what a large image leaves behind (fragmented heap, library caches) should
# not stay with the child for later images, while the ~150-300 MB of an idle child that has run
# ordinary images stays below it.
CELERY_WORKER_MAX_MEMORY_PER_CHILD = env.int("CELERY_WORKER_MAX_MEMORY_PER_CHILD", default=600_000, minimum=1)
CELERY_TIMEZONE = "UTC"
# Periodic jobs, sent by the one `celery -A smolpix beat` process. Each task is idempotent, so a
# run missed or repeated (beat restarted, a worker lost) does no harm.
CELERY_BEAT_SCHEDULE = {
    "clear-expired-sessions": {"task": "smolpix.tasks.clear_expired_sessions", "schedule": crontab(hour=3, minute=0)},
    "billing-expire-past-due-grace": {"task": "billing.tasks.expire_past_due_grace", "schedule": 3600},
    "billing-retry-stale-stripe-events": {
        "task": "billing.tasks.retry_stale_stripe_events",
        "schedule": crontab(hour=4, minute=7),
    },
    "prune-request-records": {"task": "usage.prune_request_records", "schedule": crontab(hour=3, minute=17)},
    "catch-up-quota-notices": {"task": "usage.catch_up_quota_notices", "schedule": crontab(minute=41)},
    "give-back-lapsed-images": {"task": "usage.give_back_lapsed_images", "schedule": 60},
    "catch-up-welcome-emails": {"task": "accounts.catch_up_welcome_emails", "schedule": 600},
    "delete-unverified-accounts": {
        "task": "accounts.delete_unverified_accounts",
        "schedule": crontab(hour=3, minute=29),
    },
}
# Where beat remembers when each job last ran (a local file on beat's machine).
CELERY_BEAT_SCHEDULE_FILENAME = env.str("CELERY_BEAT_SCHEDULE_FILENAME", default=str(BASE_DIR / "celerybeat-schedule"))

# --- Auth and accounts --------------------------------------------------------------------

AUTH_USER_MODEL = "accounts.User"
# django-axes' backend first: it refuses a locked-out sign-in before any password is checked.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "landing"
# A password reset's link works once, for an hour (Django's default: 3 days, for a link that may
# sit in a mailbox anyone could later read).
PASSWORD_RESET_TIMEOUT = 60 * 60
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Failed sign-ins, counted by django-axes in the database (PostgreSQL: shared by every process, and
# working while Redis is down, as sign-in itself does). After 5 failures for one account, or 20 from
# one client address (offices share one), within 15 minutes, sign-in is refused, even with the right
# password, for 15 minutes or until a password reset (see accounts.signin). Anyone can cause an
# account's lock, from anywhere: it does not refuse a browser that signed in to the account before
# (a known device, by its cookie), which 5 failures of its own lock instead. A success does not wipe
# the count: that would let an attacker with an account of their own reset it between guesses.
AXES_HANDLER = "accounts.signin.SignInAttempts"
AXES_FAILURE_LIMIT = 5
AXES_ADDRESS_FAILURE_LIMIT = 20
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_COOLOFF_TIME = timedelta(minutes=15)
AXES_RESET_ON_SUCCESS = False
# Attempts during a lockout do not extend it: it ends 15 minutes after the failure that caused it
# (an attacker gets no more guesses either way, and the owner is not kept out for good).
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_USERNAME_CALLABLE = "accounts.signin.attempted_email"
AXES_CLIENT_IP_CALLABLE = "smolpix.proxies.client_address"
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
# The known device's cookie (signed, HttpOnly, Secure over HTTPS): a year from its last sign-in.
SIGN_IN_DEVICE_COOKIE = "known_device"
SIGN_IN_DEVICE_COOKIE_AGE = timedelta(days=365)
# Sign-ins are logged as JSON lines by accounts.signals; the table of every success would only grow.
AXES_DISABLE_ACCESS_LOG = True
# Masked in the failed attempts axes stores (it masks passwords itself).
AXES_SENSITIVE_PARAMETERS = ["username", "ip_address", "otp_token", "csrfmiddlewaretoken"]
# The proxies whose X-Forwarded-For is believed (gunicorn reads the same variable for X-Forwarded-Proto):
# the client's address is the last one they add (smolpix.proxies).
# (Not `*`, which gunicorn would take: with it any client picks its own address.)
FORWARDED_ALLOW_IPS = env.networks("FORWARDED_ALLOW_IPS", default=["127.0.0.1", "::1"])

# Staff sign in to the admin with a password and a TOTP code (django-otp), or a backup code.
OTP_TOTP_ISSUER = "Smolpix"

# API keys are stored as HMAC-SHA256(API_KEY_HASH_SECRET, key). Changing it invalidates every key.
API_KEY_HASH_SECRET = env.str("API_KEY_HASH_SECRET", default="") or SECRET_KEY

# --- Rate limits and usage (the `usage` app) -----------------------------------------------

# Rate limits count in the default cache (Redis when REDIS_URL is set), shared by every process.
# The prefix lets several deployments share one Redis database.
RATELIMIT_CACHE_PREFIX = env.str("RATELIMIT_CACHE_PREFIX", default="rl:")
# A count the cache could not keep lets the request through (see usage.ratelimit.rate_limit_hit).
RATELIMIT_FAIL_OPEN = True
# API request records older than this many days are deleted nightly (a Celery beat task).
REQUEST_RECORD_RETENTION_DAYS = env.int("REQUEST_RECORD_RETENTION_DAYS", default=90, minimum=1)

# --- E-mail -------------------------------------------------------------------------------

vars().update(env.email_url("EMAIL_URL", default="consolemail://"))
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Smolpix <hello@smolpix.co>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
# Seconds before an SMTP connection gives up, so a stuck mail server fails the task (which retries).
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10, minimum=1)
# The base of links in e-mails; unset, the host the request reached us at (see smolpix.emails).
SITE_URL = env.http_url("SITE_URL")

# --- Static files -------------------------------------------------------------------------

STATIC_URL = "static/"
STATIC_ROOT = env.path("STATIC_ROOT", default=BASE_DIR / "staticfiles")
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# --- Internationalisation -----------------------------------------------------------------

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Django REST framework ----------------------------------------------------------------

REST_FRAMEWORK = {
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "api.parsers.JSONParser",
        "rest_framework.parsers.MultiPartParser",
        "rest_framework.parsers.FormParser",
    ],
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": [],
    "UNAUTHENTICATED_USER": None,
    "EXCEPTION_HANDLER": "api.errors.api_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}

# The OpenAPI schema at /api/schema/, generated from the API views; its viewer's assets are served
# from our own static files (drf-spectacular-sidecar), never from a CDN.
SPECTACULAR_SETTINGS = {
    "TITLE": "Smolpix API",
    "VERSION": "1.0",
    "DESCRIPTION": (
        "Optimize images: WebP or AVIF, resized, with content-aware compression. "
        "The readable reference, with examples, is at /docs/."
    ),
    "SERVE_INCLUDE_SCHEMA": False,
    # OpenAPI 3.1 (JSON Schema's null): 3.0's `nullable` beside a `$ref` (`quality` is null with
    # `smart: false`) does not admit null, and validators such as openapi-core refused our answers.
    "OAS_VERSION": "3.1.0",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_GENERATE_CHOICE_DESCRIPTION": False,
    "ENUM_NAME_OVERRIDES": {
        "RequestedFormatEnum": "api.optimize.REQUESTED_FORMATS",
        "OutputFormatEnum": "api.optimize.OUTPUT_FORMATS",
        "ErrorCodeEnum": "api.schema.ERROR_CODES",
    },
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "defaultModelsExpandDepth": -1, "persistAuthorization": False},
}

# --- Image optimizer ----------------------------------------------------------------------

OPTIMIZER_ALLOW_PRIVATE_NETWORKS = env.bool("OPTIMIZER_ALLOW_PRIVATE_NETWORKS", default=False)
OPTIMIZER_MAX_SOURCE_BYTES = env.int("OPTIMIZER_MAX_SOURCE_BYTES", default=32 * 1024 * 1024, minimum=1)
OPTIMIZER_MAX_PIXELS = env.int("OPTIMIZER_MAX_PIXELS", default=100_000_000, minimum=1)
OPTIMIZER_FETCH_TIMEOUT = env.float("OPTIMIZER_FETCH_TIMEOUT", default=10.0, minimum=0.1)
# Seconds an optimization may wait for capacity: for a gunicorn thread, then (after a URL's image
# is fetched) for a worker to start its job; then the API answers 503 with Retry-After.
OPTIMIZER_QUEUE_TIMEOUT = env.int("OPTIMIZER_QUEUE_TIMEOUT", default=10, minimum=1)
# Ports customer URLs may use (SPEC §8: the default ports or explicitly allowed ones).
OPTIMIZER_ALLOWED_PORTS = env.ports("OPTIMIZER_ALLOWED_PORTS", default=[80, 443])

# --- Stripe -------------------------------------------------------------------------------

STRIPE_SECRET_KEY = env.str("STRIPE_SECRET_KEY", default="")
STRIPE_WEBHOOK_SECRET = env.str("STRIPE_WEBHOOK_SECRET", default="")
STRIPE_PRICE_PRO = env.str("STRIPE_PRICE_PRO", default="")
STRIPE_PRICE_AGENCY = env.str("STRIPE_PRICE_AGENCY", default="")
STRIPE_API_BASE = env.str("STRIPE_API_BASE", default="")
# A past-due subscription keeps its plan this many days while Stripe retries the card, then the
# account drops to Free even if Stripe is still retrying (see README, "Billing with Stripe").
BILLING_PAST_DUE_GRACE_DAYS = env.int("BILLING_PAST_DUE_GRACE_DAYS", default=7, minimum=0)

# --- Production safety --------------------------------------------------------------------

if not DEBUG:
    # TLS terminates at the proxy, which says so in X-Forwarded-Proto. gunicorn believes it only from
    # FORWARDED_ALLOW_IPS and sets the request's scheme; no SECURE_PROXY_SSL_HEADER here, which Django
    # would believe from any client that reaches gunicorn directly.
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    # Load balancers probe the health check over plain HTTP.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31_536_000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True

SESSION_ENGINE = "smolpix.sessions"  # Django's database sessions, each read once while PostgreSQL is down
SESSION_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Content-Security-Policy of every response (smolpix.middleware.ContentSecurityPolicyMiddleware): our
# own scripts, styles, images and fonts only, no inline script or style. Images also from data: and
# blob: URLs (try-it shows the original and the result from memory; Swagger UI's icons), and no
# framing, plugins or <base>. No form-action: Checkout's form goes on to Stripe by a redirect.
SECURE_CSP = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'"],
    "img-src": ["'self'", "data:", "blob:"],
    "font-src": ["'self'"],
    "connect-src": ["'self'"],
    "object-src": ["'none'"],
    "base-uri": ["'none'"],
    "frame-ancestors": ["'none'"],
}

# One JSON object per line on stdout (see smolpix.logging), for every process: web, worker, beat.
LOG_LEVEL = env.log_level("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "smolpix.logging.JsonFormatter"}},
    "filters": {"outage_tracebacks": {"()": "smolpix.logging.OutageTracebacks"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stdout"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    # Django's own loggers print plain text to the console in DEBUG: send them through the root instead.
    "loggers": {
        "django": {"handlers": [], "level": LOG_LEVEL, "propagate": True},
        "django.request": {"handlers": [], "level": LOG_LEVEL, "propagate": True, "filters": ["outage_tracebacks"]},
        # django-axes' own lines mask the account and address; accounts.signals logs sign-ins in full.
        "axes": {"handlers": [], "level": "WARNING", "propagate": True},
        # Celery's "Task ... received" line, without the request id: smolpix.celery writes it with one.
        "celery.worker.strategy": {"handlers": [], "level": "WARNING", "propagate": True},
    },
}
