"""Cockpit settings. Every value comes from the environment (see README and .env.example)."""

import datetime as dt
import ipaddress
import os
import secrets
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from cockpit.files import private_dir, private_text_once, sqlite_database_private

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = private_dir(Path(environ.Env().str("COCKPIT_VAR_DIR", default=str(BASE_DIR / "var"))))

env = environ.Env()
if (BASE_DIR / ".env").exists():
    environ.Env.read_env(BASE_DIR / ".env")

DEBUG = env.bool("DEBUG", default=False)


def _secret_key() -> str:
    key = env.str("SECRET_KEY", default="")
    if key:
        return key
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY must be set when DEBUG is off (set DEBUG=true for a generated dev key)."
        )
    # A development key that survives restarts, so sessions and signed values stay valid.
    key_file = VAR_DIR / "dev_secret_key"
    key = private_text_once(key_file, secrets.token_urlsafe(50)).strip()
    if not key:  # left empty by an older version's write, cut short
        raise ImproperlyConfigured(f"{key_file} is empty: delete it, and a new key is made.")
    return key


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "cockpit.apps.CockpitAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "django_filters",
    "django_celery_beat",
    "axes",
    "tasks",
    "adminconfig",
    "sync",
    "cockpit",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "cockpit.middleware.RefuseNullBytesMiddleware",
    "cockpit.middleware.ApiJsonNotFoundMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "cockpit.middleware.ReadsOncePerRequestMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "cockpit.middleware.UserTimezoneMiddleware",
    # Last: turns a login that django-axes refused into the lockout answer.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "cockpit.urls"
WSGI_APPLICATION = "cockpit.wsgi.application"

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
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'cockpit.sqlite3'}"),
}
DATABASES["default"].setdefault("ATOMIC_REQUESTS", False)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # It holds sessions and API tokens: 0600 from the start.
    sqlite_database_private(str(DATABASES["default"]["NAME"]))
    # Several processes (web, worker, beat) share one SQLite file: wait for locks
    # instead of failing at once, and start write transactions eagerly so two
    # writers do not deadlock upgrading read locks.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"}
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Login lockout (django-axes), one policy for the login page, the admin and auth/token/:
# LOGIN_FAILURE_LIMIT failed passwords for one username from one address lock that pair out
# for LOGIN_LOCKOUT_MINUTES (429 with a message; the right password does not get in
# meanwhile). Per pair, so nobody locks a colleague out from elsewhere; guessing one username
# from many addresses meets auth/token/'s per-username throttle. Superusers see the failed
# attempts in the admin (Axes: access attempts) and unlock by deleting the row, or with
# `manage.py axes_reset_username NAME`.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    # ModelBackend, with the user's time zone and sync-admin group read with them.
    "cockpit.authentication.SessionUserBackend",
    # Sessions signed in before SessionUserBackend name Django's ModelBackend: listed so they
    # stay signed in (Django loads a session's user only through a listed backend). Never
    # reached for a good password: the backend above answers first.
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = dt.timedelta(minutes=env.int("LOGIN_LOCKOUT_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# The lockout ends LOGIN_LOCKOUT_MINUTES after the failure that caused it: tries while locked
# out (the owner's right password too) do not extend it.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_LOCKOUT_CALLABLE = "cockpit.lockout.lockout_response"
AXES_CLIENT_IP_CALLABLE = "cockpit.lockout.client_ip"
# The attempts' records keep no form data beyond the username (never the password).
AXES_SENSITIVE_PARAMETERS = ["password", "current_password", "new_password", "client_secret"]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(VAR_DIR / "staticfiles")))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "task-list"
LOGOUT_REDIRECT_URL = "login"

# Sessions are kept in the database and read through the cache (below): a page finds the
# signed-in session without a query (issue 19). Logging out or a password change updates both.
SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"

# Security headers and cookies. TLS terminates in front of the app in production (which
# sets X-Forwarded-Proto); HSTS is switched on from the environment there.
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if not DEBUG:
    SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=True)
    CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=True)
    # Plain http is redirected to https (but SECURE_REDIRECT_EXEMPT, below).
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Plain http is redirected to https (SECURE_SSL_REDIRECT), except what load balancers and
# Prometheus fetch over plain http from inside: the health check and the metrics.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^metrics$"]

# Throttle counts and other short-lived values, shared by every process of the machine: the
# embedded default is a file cache under var/cache/ (0700; Django writes its files 0600), so
# make run's two gunicorn workers count one limit, not two. Several machines point CACHE_URL
# at a shared cache (redis://...).
if env.str("CACHE_URL", default=""):
    CACHES = {"default": env.cache("CACHE_URL")}
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(private_dir(VAR_DIR / "cache")),
            # Django culls a third of the entries past MAX_ENTRIES (300): throttle counts of
            # many addresses would be forgotten.
            "OPTIONS": {"MAX_ENTRIES": 100_000},
        }
    }

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "cockpit.authentication.ExpiringTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
        "cockpit.authentication.AnonymousThrottleAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": [
        "cockpit.parsers.StorableJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "EXCEPTION_HANDLER": "cockpit.exceptions.exception_handler",
    # Anonymous requests are counted while authenticating (cockpit.authentication), so
    # they are throttled before a permission answers 401; auth/token/ adds its own.
    "DEFAULT_THROTTLE_CLASSES": [],
    "DEFAULT_THROTTLE_RATES": {
        # Requests without credentials, per client IP.
        "anon": env.str("API_THROTTLE_ANON", default="60/minute"),
        # Password attempts at auth/token/, per client IP and per username.
        "login": env.str("API_THROTTLE_LOGIN", default="10/minute"),
        "login_username": env.str("API_THROTTLE_LOGIN_USERNAME", default="20/hour"),
    },
    # Proxies in front of the app that append to X-Forwarded-For; 0 trusts none of it, so a
    # client cannot pick the address its throttle counts under.
    "NUM_PROXIES": env.int("NUM_PROXIES", default=0),
    "DEFAULT_PAGINATION_CLASS": "cockpit.pagination.StandardPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
# Days an API token lasts from when it was issued; DELETE auth/token/ revokes it sooner.
API_TOKEN_LIFETIME_DAYS = env.int("API_TOKEN_LIFETIME_DAYS", default=30)

SPECTACULAR_SETTINGS = {
    "TITLE": "Cockpit API",
    "DESCRIPTION": "Customer-success tasks and their two-way sync with Salesforce.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI and ReDoc from our own static files: the product runs where there is no
    # internet, and a CDN's @latest changes under us.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # The anonymous-rate counter is not a way to authenticate.
    "AUTHENTICATION_WHITELIST": [
        "cockpit.authentication.ExpiringTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
}

# Celery. The embedded default needs no server: kombu's filesystem transport under var/.
BROKER_DIR = VAR_DIR / "broker"
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    for sub in ("queue", "processed", "control"):
        private_dir(BROKER_DIR / sub)
    private_dir(BROKER_DIR)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "processed_folder": str(BROKER_DIR / "processed"),
        # kombu's default is ./control: whatever directory the process started in.
        "control_folder": str(BROKER_DIR / "control"),
        # kombu polls the folder (1 s by default): a push message would wait up to a second
        # on top of the linger. A directory listing every 100 ms costs next to nothing.
        "polling_interval": 0.1,
        "store_processed": False,
    }
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# Beat queues the worker's heartbeat this often; /healthz calls the worker down when 3 in a
# row did not run (cockpit/health.py).
WORKER_HEARTBEAT_SECONDS = env.int("WORKER_HEARTBEAT_SECONDS", default=30)
CELERY_BEAT_SCHEDULE = {
    "cockpit-heartbeat": {"task": "cockpit.tasks.heartbeat", "schedule": WORKER_HEARTBEAT_SECONDS},
    "sync-sweep": {"task": "sync.sweep", "schedule": 15.0},
    # Pulls when the admin's pull interval (default 60 s, at least 10 s) has passed.
    "sync-pull-tick": {"task": "sync.pull_tick", "schedule": 10.0},
    "sync-prune": {"task": "sync.prune", "schedule": 24 * 3600.0},
    "sync-accounts": {"task": "sync.accounts_refresh", "schedule": 24 * 3600.0},
    # Mail sync admins when pushes fail, the stream is down or the budget pauses pushing.
    "sync-alerts": {
        "task": "sync.alerts",
        "schedule": env.float("SYNC_ALERT_CHECK_SECONDS", default=60.0),
    },
    # Drift repair: every linked task compared with its Salesforce twin.
    "sync-reconcile": {
        "task": "sync.reconcile",
        "schedule": env.float("SYNC_RECONCILE_HOURS", default=24.0) * 3600.0,
    },
}

# Mail (sync alerts to sync admins, sync/alerts.py). EMAIL_URL sets it all at once
# (smtp+tls://user:password@smtp.example.com:587, consolemail://, dummymail://); otherwise
# Django's usual EMAIL_* settings, with the console backend by default: mails are written to
# the worker's output until a server is configured.
if env.str("EMAIL_URL", default=""):
    vars().update(env.email_url("EMAIL_URL"))
else:
    EMAIL_BACKEND = env.str(
        "EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend"
    )
    EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
    EMAIL_PORT = env.int("EMAIL_PORT", default=25)
    EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
    EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
    EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
    EMAIL_USE_SSL = env.bool("EMAIL_USE_SSL", default=False)
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=30)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="cockpit@localhost")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
# Where people open Cockpit, for the links in mails (no request to take it from).
COCKPIT_URL = env.str("COCKPIT_URL", default="http://127.0.0.1:8000").rstrip("/")
# Each kind of sync alert mails at most once in this many minutes (beat looks every
# SYNC_ALERT_CHECK_SECONDS).
SYNC_ALERT_INTERVAL_MINUTES = env.int("SYNC_ALERT_INTERVAL_MINUTES", default=60)

# Days of sync history (events, conflicts, finished outbox entries) kept before pruning.
SYNC_LOG_RETENTION_DAYS = env.int("SYNC_LOG_RETENTION_DAYS", default=30)
# How long Cockpit waits for one Salesforce answer before it counts the call as lost.
SALESFORCE_TIMEOUT_SECONDS = env.float("SALESFORCE_TIMEOUT_SECONDS", default=30.0)
# Change events (Streaming API): how long the listener lingers after the first event of a
# burst, and how often the pull runs as a safety net while the stream is live.
SYNC_STREAM_LINGER_MS = env.int("SYNC_STREAM_LINGER_MS", default=200)
SYNC_STREAM_SAFETY_PULL_SECONDS = env.int("SYNC_STREAM_SAFETY_PULL_SECONDS", default=600)
# The Streaming API holds a connect this long at most (Salesforce: 110 s).
SYNC_STREAM_POLL_SECONDS = env.int("SYNC_STREAM_POLL_SECONDS", default=110)
# Each pull reads again this far behind the newest change it saw: Salesforce stamps to the
# second, shares one stamp per transaction and can show a record after later stamps.
SYNC_PULL_OVERLAP_SECONDS = env.int("SYNC_PULL_OVERLAP_SECONDS", default=120)
# After a write whose answer never came, Cockpit waits this long before writing the same
# Salesforce task again, so the slow write lands first instead of over the newer one.
SYNC_UNCERTAIN_GRACE_SECONDS = env.float("SYNC_UNCERTAIN_GRACE_SECONDS", default=60.0)
# A push waits this long after the first change that rang for it, so a burst of changes
# travels in one cycle of full collections (group commit).
SYNC_PUSH_LINGER_MS = env.int("SYNC_PUSH_LINGER_MS", default=500)
# A trickle's push cycle that made N Salesforce calls is followed N seconds after it began,
# not one, so a trickle costs at most one call a second (sync/outbox.py, cycle_calls_paced).
SYNC_PUSH_PACING = env.bool("SYNC_PUSH_PACING", default=True)

# A connection's login URL must be https: the client secret is sent to it. Local development
# against a plain-http server may allow http here; never in production.
SYNC_ALLOW_HTTP_LOGIN_URL = env.bool("SYNC_ALLOW_HTTP_LOGIN_URL", default=False)

# Hosts a login's instance_url may name besides Salesforce's own domains and the login URL's
# host: 'host', 'host:port' or '.example.com' (its subdomains), for an emulator or a proxy.
SYNC_TRUSTED_INSTANCE_HOSTS = env.list("SYNC_TRUSTED_INSTANCE_HOSTS", default=[])

# Fernet keys for stored Salesforce client secrets; the first encrypts, all decrypt (rotation).
SYNC_ENCRYPTION_KEYS = env.list("SYNC_ENCRYPTION_KEY", default=[])

# Metrics at /metrics (cockpit/metrics_views.py). Counters kept by the worker, the listener and
# the web processes go to files in this directory (prometheus-client's multiprocess mode), which
# any web process adds up. prometheus-client reads the variable when it is first imported, which
# is after the settings in every Cockpit process, so it is set here for all of them.
PROMETHEUS_MULTIPROC_DIR = private_dir(
    Path(env.str("PROMETHEUS_MULTIPROC_DIR", default="") or VAR_DIR / "prometheus")
)
os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(PROMETHEUS_MULTIPROC_DIR)


def _metrics_token() -> str:
    token = env.str("METRICS_TOKEN", default="")
    if token and len(token) < 16:
        raise ImproperlyConfigured(
            "METRICS_TOKEN must be at least 16 characters (generate one: "
            'python -c "import secrets; print(secrets.token_urlsafe(32))").'
        )
    return token


def _metrics_networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    networks = []
    for item in env.list("METRICS_ALLOWED_IPS", default=[]):
        try:
            networks.append(ipaddress.ip_network(item.strip(), strict=False))
        except ValueError as exc:
            raise ImproperlyConfigured(
                f"METRICS_ALLOWED_IPS: {item!r} is not an IP address or network ({exc})."
            ) from exc
    return networks


# A scrape is let in with `Authorization: Bearer <METRICS_TOKEN>`, or from an address in
# METRICS_ALLOWED_IPS (the connecting address itself, never X-Forwarded-For). Neither set: closed.
METRICS_TOKEN = _metrics_token()
METRICS_ALLOWED_NETWORKS = _metrics_networks()

# Logs: readable text by default; LOG_FORMAT=json writes one JSON object a line. Every line of
# the sync (loggers under `sync.`) carries task_id, salesforce_id, connection, outcome,
# duration_ms and step (sync/logs.py).
LOG_FORMAT = env.str("LOG_FORMAT", default="text")
if LOG_FORMAT not in ("text", "json"):
    raise ImproperlyConfigured(f"LOG_FORMAT must be 'text' or 'json', not {LOG_FORMAT!r}.")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"sync_fields": {"()": "sync.logs.SyncFields"}},
    "formatters": {
        "text": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(levelname)s %(name)s %(message)s",
            "rename_fields": {"levelname": "level", "name": "logger"},
            "timestamp": "time",  # ISO 8601, UTC
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["sync_fields"],
        }
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    # django-axes says INFO on every failed login; cockpit.security logs each one already,
    # and axes' lockouts are WARNING.
    "loggers": {"django.db.backends": {"level": "WARNING"}, "axes": {"level": "WARNING"}},
}
