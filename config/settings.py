"""AfterCare settings. Everything that differs between machines comes from the environment.

Embedded default: SQLite file under var/, Huey queue in a SQLite file, local media folder.
Scaled out: DATABASE_URL=postgres://..., REDIS_URL=redis://..., several web processes.
"""

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("AFTERCARE_VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    if raw.lower() in {"1", "true", "yes", "on"}:
        return True
    if raw.lower() in {"0", "false", "no", "off", ""}:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean, got {raw!r}")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be an integer, got {raw!r}") from exc


DEBUG = env_bool("DJANGO_DEBUG", False)
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG and os.environ.get("AFTERCARE_ALLOW_DEV_SECRET") != "1":
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY is not set. Set it, or set DJANGO_DEBUG=1 for local development."
        )
    SECRET_KEY = "dev-only-insecure-key-do-not-use-in-production-aftercare"

ALLOWED_HOSTS = [
    h for h in os.environ.get("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost").split(",") if h
]
CSRF_TRUSTED_ORIGINS = [
    o for o in os.environ.get("DJANGO_CSRF_TRUSTED_ORIGINS", "").split(",") if o
]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "ninja",
    "huey.contrib.djhuey",
    "aftercare.core",
    "aftercare.accounts",
    "aftercare.customers",
    "aftercare.catalog",
    "aftercare.tickets",
    "aftercare.sla",
    "aftercare.collab",
    "aftercare.intake",
    "aftercare.assist",
    "aftercare.kb",
    "aftercare.demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- database -------------------------------------------------------------------------------
DATABASE_URL = os.environ.get("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'aftercare.sqlite3'}"
DATABASES = {
    "default": dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 0))
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets readers run beside the one writer; IMMEDIATE takes the write lock at BEGIN so
    # concurrent writers queue on busy_timeout instead of failing with "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "init_command": (
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;"
        ),
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-aftercare.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# --- i18n -----------------------------------------------------------------------------------
LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", _("简体中文")), ("zh-hant", _("繁體中文")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = os.environ.get("AFTERCARE_TIME_ZONE", "Asia/Shanghai")
USE_I18N = True
USE_TZ = True

# --- files ----------------------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
MEDIA_ROOT = Path(os.environ.get("AFTERCARE_MEDIA_ROOT", VAR_DIR / "media"))
MEDIA_URL = "media/"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
DATA_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024

# --- task queue -----------------------------------------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "")
HUEY_IMMEDIATE = env_bool("HUEY_IMMEDIATE", False)
if REDIS_URL:
    HUEY = {
        "huey_class": "huey.RedisHuey",
        "name": os.environ.get("AFTERCARE_QUEUE_NAME", "aftercare"),
        "url": REDIS_URL,
        "immediate": HUEY_IMMEDIATE,
        "consumer": {"workers": env_int("HUEY_WORKERS", 4), "worker_type": "thread"},
    }
else:
    HUEY = {
        "huey_class": "huey.SqliteHuey",
        "name": "aftercare",
        "filename": str(VAR_DIR / "tasks.sqlite3"),
        "immediate": HUEY_IMMEDIATE,
        "consumer": {"workers": env_int("HUEY_WORKERS", 2), "worker_type": "thread"},
    }

# --- mail -----------------------------------------------------------------------------------
EMAIL_BACKEND = os.environ.get(
    "EMAIL_BACKEND",
    "django.core.mail.backends.smtp.EmailBackend"
    if os.environ.get("EMAIL_HOST")
    else "django.core.mail.backends.filebased.EmailBackend",
)
EMAIL_FILE_PATH = str(VAR_DIR / "outbox")
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
DEFAULT_FROM_EMAIL = os.environ.get(
    "DEFAULT_FROM_EMAIL", "AfterCare 售后服务 <service@aftercare.local>"
)

# --- security -------------------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if not DEBUG:
    SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", False)
    SESSION_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", False)
    CSRF_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", False)

# --- AfterCare rules (defaults a service organisation may change) ----------------------------
AFTERCARE = {
    "TICKET_NUMBER_PREFIX": os.environ.get("AFTERCARE_TICKET_PREFIX", "AC"),
    "REOPEN_WINDOW_DAYS": env_int("AFTERCARE_REOPEN_WINDOW_DAYS", 14),
    "ATTACHMENT_MAX_BYTES": env_int("AFTERCARE_ATTACHMENT_MAX_BYTES", 20 * 1024 * 1024),
    "IDEMPOTENCY_TTL_HOURS": env_int("AFTERCARE_IDEMPOTENCY_TTL_HOURS", 24),
    # Email channel: loop protection caps automatic mail per ticket and in all, per window.
    "MAIL_MAX_BYTES": env_int("AFTERCARE_MAIL_MAX_BYTES", 25 * 1024 * 1024),
    "MAIL_AUTO_WINDOW_MINUTES": env_int("AFTERCARE_MAIL_AUTO_WINDOW_MINUTES", 10),
    "MAIL_AUTO_PER_TICKET": env_int("AFTERCARE_MAIL_AUTO_PER_TICKET", 10),
    "MAIL_AUTO_GLOBAL": env_int("AFTERCARE_MAIL_AUTO_GLOBAL", 1000),
    "MAIL_SEND_MAX_ATTEMPTS": env_int("AFTERCARE_MAIL_SEND_MAX_ATTEMPTS", 12),
    # A ticket handed between teams more often than this alerts the leads of those teams.
    "HANDOFF_BOUNCE_LIMIT": env_int("AFTERCARE_HANDOFF_BOUNCE_LIMIT", 3),
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "WARNING")},
}
