"""Settings of djproj, the Django project of t/frameworks-django.t.

The database is SQLite in a directory of its own under /tmp, made when the
settings are imported: each nginx worker that imports the project gets a
fresh one, and wsgi.py migrates it before serving. So no state leaks from
one test run, or one worker, into another, and nothing is written into the
source tree. DJPROJ_DB_DIR (e.g. `env DJPROJ_DB_DIR=...;` in nginx.conf)
names a directory to use instead.
"""

import os
import shutil
import tempfile
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent

DB_PREFIX = "ngx-wsgi-djproj-"


def _db_dir():
    if os.environ.get("DJPROJ_DB_DIR"):
        path = os.environ["DJPROJ_DB_DIR"]
        os.makedirs(path, exist_ok=True)
        return path
    # Python is never finalized in nginx workers, so nothing removes the
    # directory at exit: remove those of processes that are gone instead.
    tmp = tempfile.gettempdir()
    for name in os.listdir(tmp):
        if not name.startswith(DB_PREFIX):
            continue
        try:
            pid = int(name[len(DB_PREFIX):].split("-", 1)[0])
            os.kill(pid, 0)
        except ProcessLookupError:
            shutil.rmtree(os.path.join(tmp, name), ignore_errors=True)
        except (ValueError, PermissionError):
            pass
    return tempfile.mkdtemp(prefix="%s%d-" % (DB_PREFIX, os.getpid()))


DB_DIR = _db_dir()

SECRET_KEY = "ngx-wsgi-test-only-not-a-secret-5b0a9c7e1d2f4a8b9c0d1e2f3a4b5c6d"
DEBUG = False
ALLOWED_HOSTS = ["localhost", "127.0.0.1"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "djproj.notes",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "djproj.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
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

WSGI_APPLICATION = "djproj.wsgi.application"

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.path.join(DB_DIR, "db.sqlite3"),
        # several Python threads of a worker share the file
        "OPTIONS": {"timeout": 20},
    }
}

# Fast hashing: the test superuser logs in on every run.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# Relative, so Django puts SCRIPT_NAME in front ("/django/static/...").
STATIC_URL = "static/"
MEDIA_URL = "media/"
# Beside the package, as nginx-conf/django.conf serves them (collectstatic
# fills STATIC_ROOT; t/examples.sh runs it on a copy of the project).
STATIC_ROOT = BASE_DIR.parent / "static"
MEDIA_ROOT = BASE_DIR.parent / "media"

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Errors (500s, 403s for CSRF, 400s for bad hosts) go to stderr, which
# ngx-wsgi writes to nginx's error log.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler"}},
    "loggers": {"django": {"handlers": ["stderr"], "level": "WARNING"}},
}
