"""A minimal CAS server for rewho's tests: django-mama-cas on Django 4.2 LTS.

Run by `tests/cas/run.py`, which gives it a private SQLite file (CAS_TEST_DB) so tests
running at the same time never share tickets or users. Loopback only; nothing here is
meant for production (fixed secret key, plain HTTP).
"""

import os

BASE_DIR = os.path.dirname(os.path.abspath(__file__))

SECRET_KEY = "rewho-tests-only-not-a-secret"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "mama_cas",
]

MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]

ROOT_URLCONF = "casserver.urls"

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
            ]
        },
    }
]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("CAS_TEST_DB", os.path.join(BASE_DIR, "cas.sqlite3")),
    }
}

# Fast password hashing: the tests log in many times on a two-core machine.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

USE_TZ = True
STATIC_URL = "/static/"
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"

# Every service on loopback may use this CAS server; attributes are released to each of
# them through the callback in casserver/attributes.py.
MAMA_CAS_SERVICES = [
    {
        "SERVICE": r"^http://(127\.0\.0\.1|localhost)(:\d+)?/",
        "CALLBACKS": ["casserver.attributes.release"],
        "LOGOUT_ALLOW": False,
    }
]

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"mama_cas": {"handlers": ["console"], "level": "INFO"}},
}
