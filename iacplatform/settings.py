"""Settings for the Terraform execution platform — every value comes from the environment.

Local defaults run out of the box (SQLite under ``var/``, a generated secret key, the
embedded Terraform) and are safe: ``DEBUG`` is off unless set, static files are served by
WhiteNoise, logins are throttled. Behind HTTPS set ``IAC_HTTPS=true`` (secure cookies, HSTS,
redirect to https): ``manage.py check --deploy`` is then clean.
"""

import secrets
import sys
import socket
from pathlib import Path


from iacplatform.env import database_from_url, env_bool, env_float, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("DEBUG", False)

DATA_DIR = Path(env_str("IAC_DATA_DIR", str(BASE_DIR / "var"))).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True, mode=0o700)


def _secret_key() -> str:
    key = env_str("SECRET_KEY")
    if key:
        return key
    # A key of this installation, kept beside its data (0600): set SECRET_KEY to share one
    # between hosts.
    key_file = DATA_DIR / "secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_urlsafe(50))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


SECRET_KEY = _secret_key()
# Fernet key material for sensitive variables and plan artifacts. Defaults to a key
# derived from SECRET_KEY; set it explicitly to rotate SECRET_KEY without losing secrets.
IAC_ENCRYPTION_KEY = env_str("IAC_ENCRYPTION_KEY")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "template_partials",
    "django_q",
    "axes",
    "ninja",  # its swagger-ui static files: /api/v1/docs renders offline, never from a CDN
    "workspaces",
    "executions",
    "resources",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "iacplatform.middleware.ApiInputMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "iacplatform.middleware.PageLoginRequiredMiddleware",
    "iacplatform.middleware.RequestContextMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "iacplatform.middleware.HtmxMessagesMiddleware",
    "axes.middleware.AxesMiddleware",  # last, as django-axes asks
]

ROOT_URLCONF = "iacplatform.urls"
WSGI_APPLICATION = "iacplatform.wsgi.application"
ASGI_APPLICATION = "iacplatform.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "builtins": ["template_partials.templatetags.partials"],
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "executions.context_processors.notifications",
            ],
        },
    },
]

DATABASES = {
    "default": database_from_url(
        "DATABASE_URL", env_str("DATABASE_URL", f"sqlite:///{DATA_DIR / 'db.sqlite3'}")
    )
}
# A worker cluster keeps its PostgreSQL connections (checked before reuse): django-q2 closes
# obsolete connections before every broker call and every task, and with CONN_MAX_AGE=0 each
# queued run paid several new connections before it started. The web process keeps Django's
# default (the threaded dev server would leave a connection per request thread).
if len(sys.argv) > 1 and sys.argv[1] == "qcluster" and DATABASES["default"]["ENGINE"].endswith("postgresql"):
    DATABASES["default"]["CONN_MAX_AGE"] = env_int("IAC_WORKER_CONN_MAX_AGE", 300, minimum=0)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# Tests that start a real worker process need a test database it can open too.
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test_db.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "workspace_list"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)  # WhiteNoise warns about a missing one; collectstatic fills it

# WhiteNoise serves static files (no collectstatic needed for a local run: it finds them).
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True

# Cookies and HTTPS. Session and CSRF cookies are HttpOnly-by-default where Django allows it,
# SameSite=Lax, and Secure behind HTTPS (IAC_HTTPS=true, which also sends HSTS and redirects).
IAC_HTTPS = env_bool("IAC_HTTPS", False)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", IAC_HTTPS)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 12 * 3600, minimum=60)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if IAC_HTTPS:
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Login throttling (django-axes): after IAC_LOGIN_FAILURE_LIMIT failures for one user name
# from one address, logins are refused for IAC_LOGIN_COOLOFF_MINUTES.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = env_int("IAC_LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = env_int("IAC_LOGIN_COOLOFF_MINUTES", 15, minimum=1) / 60  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False  # failed logins are audit events already (workspaces.audit)

# --- Terraform and the executor -------------------------------------------------------
_default_tf = Path(sys.executable).parent / "iac-terraform"
TERRAFORM_BIN = env_str("TERRAFORM_BIN", str(_default_tf))
IAC_WORK_DIR = DATA_DIR / "work"
IAC_STATE_BACKUP_DIR = DATA_DIR / "state-backups"
IAC_PLUGIN_CACHE_DIR = DATA_DIR / "plugin-cache"
IAC_PROVIDER_MIRROR = env_str("IAC_PROVIDER_MIRROR")
IAC_KEEP_FAILED_WORKDIRS = env_bool("IAC_KEEP_FAILED_WORKDIRS", False)
# When the worker runs as root, terraform and its provisioners run as this unprivileged user
# (each run with a group of its own): they cannot read the secret key, the database file,
# backups or other runs' work dirs. `make run` creates `iac-run` when missing.
IAC_RUN_AS_USER = env_str("IAC_RUN_AS_USER")
IAC_WORKERS = env_int("IAC_WORKERS", 2, minimum=1)
# The name a worker host is known by (runs record it; recovery reads a lost run's work dir
# only on its own host). Default: the machine's host name.
IAC_WORKER_HOST = env_str("IAC_WORKER_HOST") or socket.gethostname()
IAC_TASK_TIMEOUT = env_int("IAC_TASK_TIMEOUT", 3600, minimum=10)
IAC_CANCEL_GRACE_SECONDS = env_int("IAC_CANCEL_GRACE_SECONDS", 10, minimum=1)
# The run page follows a running log over Server-Sent Events, one connection (a server thread)
# per open page, closed after this many seconds (the browser reconnects). 0: no stream, the
# page polls every second (e.g. behind a server with few synchronous workers).
IAC_LOG_STREAM_SECONDS = env_int("IAC_LOG_STREAM_SECONDS", 55, minimum=0)
IAC_HEARTBEAT_SECONDS = env_int("IAC_HEARTBEAT_SECONDS", 5, minimum=1)
# A heartbeat thread beats every IAC_HEARTBEAT_SECONDS for the whole run: a run whose
# heartbeat is older than IAC_REAPER_STALE_SECONDS has lost its worker.
IAC_REAPER_STALE_SECONDS = env_int("IAC_REAPER_STALE_SECONDS", 20, minimum=5)
# Terraform's http state backend: a CLI lock older than this is shown as stale on the overview;
# the address the Settings page shows (default: the address the page was requested on).
IAC_CLI_LOCK_STALE_SECONDS = env_int("IAC_CLI_LOCK_STALE_SECONDS", 3600, minimum=1)
IAC_BACKEND_BASE_URL = env_str("IAC_BACKEND_BASE_URL")
# A scheduled drift check that finds its workspace busy or locked is retried after this long.
IAC_DRIFT_RETRY_SECONDS = env_int("IAC_DRIFT_RETRY_SECONDS", 600, minimum=1)
# While an apply runs, its work dir state is checkpointed (when it changed) this often.
IAC_CHECKPOINT_SECONDS = env_int("IAC_CHECKPOINT_SECONDS", 3, minimum=1)
IAC_STATE_SAVE_ATTEMPTS = env_int("IAC_STATE_SAVE_ATTEMPTS", 5, minimum=1)
IAC_STATE_SAVE_BACKOFF = env_int("IAC_STATE_SAVE_BACKOFF", 2, minimum=0)
IAC_MIN_FREE_DISK_MB = env_int("IAC_MIN_FREE_DISK_MB", 100, minimum=0)
# Per-stage terraform timeouts (a workspace may override them); default: IAC_TASK_TIMEOUT.
IAC_TIMEOUT_INIT = env_int("IAC_TIMEOUT_INIT", IAC_TASK_TIMEOUT, minimum=1)
IAC_TIMEOUT_PLAN = env_int("IAC_TIMEOUT_PLAN", IAC_TASK_TIMEOUT, minimum=1)
IAC_TIMEOUT_APPLY = env_int("IAC_TIMEOUT_APPLY", IAC_TASK_TIMEOUT, minimum=1)
# init and plan are retried on transient errors (network, throttling, state lock): attempts
# in all, waiting base × 2^(n-1) seconds plus jitter between them. An apply never is.
IAC_RETRY_ATTEMPTS = env_int("IAC_RETRY_ATTEMPTS", 3, minimum=1)
# terraform init is skipped when it has nothing to do (no module, no provider other than the
# built-in one, no backend: executions/executor/init_skip.py); False runs it always.
IAC_SKIP_NOOP_INIT = env_bool("IAC_SKIP_NOOP_INIT", True)
IAC_RETRY_BASE_SECONDS = env_int("IAC_RETRY_BASE_SECONDS", 2, minimum=0)
# Run hooks (executions/executor/hooks.py): the Python callables a "function" hook may name
# (dotted paths, comma-separated), and how often an HTTP hook is tried on 5xx/timeouts.
# The platform's own address, for links in notifications and handed to hooks (run page, plan JSON URL).
IAC_BASE_URL = env_str("IAC_BASE_URL", "http://127.0.0.1:8000").rstrip("/")
IAC_HOOK_FUNCTIONS = env_list("IAC_HOOK_FUNCTIONS", [])
IAC_HOOK_HTTP_ATTEMPTS = env_int("IAC_HOOK_HTTP_ATTEMPTS", 3, minimum=1)
IAC_HOOK_HTTP_BACKOFF = float(env_str("IAC_HOOK_HTTP_BACKOFF", "1"))  # seconds, doubled per attempt
# Cost estimation (executions/cost.py): the operator's own price list (JSON, adds to or
# overrides the shipped catalog) and an infracost binary to use instead of the catalog.
IAC_PRICING_FILE = env_str("IAC_PRICING_FILE")
INFRACOST_BIN = env_str("INFRACOST_BIN")

# Notifications (docs/monitoring.md): each delivery is a django-q2 task, retried with
# exponential back-off (base × 2^(n-1), capped) up to IAC_NOTIFY_ATTEMPTS attempts in all;
# 5 attempts from 30 s wait 30+60+120+240 s ≈ 7.5 min. A channel whose last
# IAC_NOTIFY_FAILING_AFTER attempts failed is flagged as failing.
IAC_NOTIFY_ATTEMPTS = env_int("IAC_NOTIFY_ATTEMPTS", 5, minimum=1)
IAC_NOTIFY_BACKOFF_SECONDS = env_int("IAC_NOTIFY_BACKOFF_SECONDS", 30, minimum=0)
IAC_NOTIFY_BACKOFF_MAX_SECONDS = env_int("IAC_NOTIFY_BACKOFF_MAX_SECONDS", 600, minimum=0)
IAC_NOTIFY_TIMEOUT_SECONDS = env_int("IAC_NOTIFY_TIMEOUT_SECONDS", 10, minimum=1)
IAC_NOTIFY_FAILING_AFTER = env_int("IAC_NOTIFY_FAILING_AFTER", 3, minimum=1)
# Deliveries share the run workers unless IAC_NOTIFY_CLUSTER names a separate django-q2 cluster
# (started with `Q_CLUSTER_NAME=<name> manage.py qcluster`): then a hanging receiver can never
# hold a slot a queued run needs.
IAC_NOTIFY_CLUSTER = env_str("IAC_NOTIFY_CLUSTER")
IAC_NOTIFY_WORKERS = env_int("IAC_NOTIFY_WORKERS", 2, minimum=1)

# /metrics answers only with "Authorization: Bearer <token>"; empty: /metrics is off (404).
IAC_METRICS_TOKEN = env_str("IAC_METRICS_TOKEN")

REDIS_URL = env_str("REDIS_URL")
Q_CLUSTER = {
    "name": "iacplatform",
    "workers": IAC_WORKERS,
    "timeout": IAC_TASK_TIMEOUT + 120,
    # The broker must never deliver a run twice on its own: retry far beyond timeout,
    # one attempt, failures acknowledged. The database row is the truth (DESIGN.md).
    "retry": IAC_TASK_TIMEOUT + 600,
    "max_attempts": 1,
    "ack_failures": True,
    "save_limit": 1000,
    "catch_up": False,
    "poll": 0.1,
    "label": "Workers",
}
if IAC_NOTIFY_CLUSTER:
    # One attempt per message as for runs; an attempt is bounded by its HTTP/SMTP timeout.
    _notify_timeout = IAC_NOTIFY_TIMEOUT_SECONDS * 3 + 30
    Q_CLUSTER["ALT_CLUSTERS"] = {IAC_NOTIFY_CLUSTER: {
        "workers": IAC_NOTIFY_WORKERS, "timeout": _notify_timeout, "retry": _notify_timeout + 60,
        "label": "Notification workers",
    }}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"
    # On PostgreSQL the workers wake on LISTEN/NOTIFY when a run is queued (iacplatform/broker.py);
    # elsewhere it is the ORM broker polling every `poll` seconds.
    Q_CLUSTER["broker_class"] = "iacplatform.broker.NotifyingORM"
# How long an idle worker waits for a NOTIFY before it looks at the queue anyway (the fallback poll).
IAC_BROKER_WAIT = env_float("IAC_BROKER_WAIT", 1.0, minimum=0.05)

NINJA_PAGINATION_PER_PAGE = 50

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}, "axes": {"level": "WARNING"}},
}
