"""repoze.who's middleware around a minimal WSGI app: the Python side of the HTTP comparison.

gunicorn loads `wsgi_app:app`; REWHO_BENCH_WHO_INI names the who.ini. The app answers 200 with
the user when repoze.who authenticated the request, else 401 (which repoze.who's challenge
decider turns into the configured challenge), the same contract as rewho's forward-auth.
"""
import os

from repoze.who.config import make_middleware_with_config


def inner(environ, start_response):
    user = environ.get("REMOTE_USER")
    if user is None:
        start_response("401 Unauthorized", [("Content-Type", "text/plain")])
        return [b"unauthorized"]
    start_response("200 OK", [("Content-Type", "text/plain"), ("X-Remote-User", str(user))])
    return [b"ok"]


_ini = os.environ["REWHO_BENCH_WHO_INI"]
app = make_middleware_with_config(
    inner, {"here": os.path.dirname(os.path.abspath(_ini))}, _ini, log_level="error"
)
