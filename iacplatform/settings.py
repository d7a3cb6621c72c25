"""Settings for the Terraform execution platform — every value comes from the environment.

Local defaults run out of the box (SQLite under ``var/``, a generated secret key, the
embedded Terraform); production sets ``DEBUG=false`` and the variables documented in the
README.
"""

import secrets
import sys
import socket
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from iacplatform.env import database_from_url, env_bool, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("DEBUG", True)

DATA_DIR = Path(env_str("IAC_DATA_DIR", str(BASE_DIR / "var"))).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True, mode=0o700)


def _secret_key() -> str:
    key = env_str("SECRET_KEY")
    if key:
        return key
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
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
    "ninja",  # its swagger-ui static files: /api/v1/docs renders offline, never from a CDN
    "workspaces",
    "executions",
    "resources",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
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
            ],
        },
    },
]

DATABASES = {
    "default": database_from_url(
        "DATABASE_URL", env_str("DATABASE_URL", f"sqlite:///{DATA_DIR / 'db.sqlite3'}")
    )
}
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

SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE

# --- Terraform and the executor -------------------------------------------------------
_default_tf = Path(sys.executable).parent / "iac-terraform"
TERRAFORM_BIN = env_str("TERRAFORM_BIN", str(_default_tf))
IAC_WORK_DIR = DATA_DIR / "work"
IAC_STATE_BACKUP_DIR = DATA_DIR / "state-backups"
IAC_PLUGIN_CACHE_DIR = DATA_DIR / "plugin-cache"
IAC_PROVIDER_MIRROR = env_str("IAC_PROVIDER_MIRROR")
IAC_KEEP_FAILED_WORKDIRS = env_bool("IAC_KEEP_FAILED_WORKDIRS", False)
IAC_WORKERS = env_int("IAC_WORKERS", 2, minimum=1)
# The name a worker host is known by (runs record it; recovery reads a lost run's work dir
# only on its own host). Default: the machine's host name.
IAC_WORKER_HOST = env_str("IAC_WORKER_HOST") or socket.gethostname()
IAC_TASK_TIMEOUT = env_int("IAC_TASK_TIMEOUT", 3600, minimum=10)
IAC_CANCEL_GRACE_SECONDS = env_int("IAC_CANCEL_GRACE_SECONDS", 10, minimum=1)
IAC_HEARTBEAT_SECONDS = env_int("IAC_HEARTBEAT_SECONDS", 5, minimum=1)
# A heartbeat thread beats every IAC_HEARTBEAT_SECONDS for the whole run: a run whose
# heartbeat is older than IAC_REAPER_STALE_SECONDS has lost its worker.
IAC_REAPER_STALE_SECONDS = env_int("IAC_REAPER_STALE_SECONDS", 20, minimum=5)
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
IAC_RETRY_BASE_SECONDS = env_int("IAC_RETRY_BASE_SECONDS", 2, minimum=0)

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
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"

NINJA_PAGINATION_PER_PAGE = 50

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
