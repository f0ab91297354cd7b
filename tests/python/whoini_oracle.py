"""Runs real repoze.who on a who.ini, for rewho's "an existing who.ini runs unchanged" test.

    whoini_oracle.py WHO_INI < requests.json > answers.json

Standard input is a JSON list of requests, each {"method", "path", "query", "headers":
[[name, value], ...], "remote_addr"}; one with "login" and "password" calls
`api.login(credentials, "auth_tkt")` instead of authenticating.
Standard output is one answer per request, in order:

  {"userid": str | null,
   "challenge": null | {"status": "302 Found", "headers": [[name, value], ...]}}
  or, for a login, {"userid": str | null, "headers": [[name, value], ...]}

The challenge is what `api.challenge('401 Unauthorized')` answers for anonymous requests.
"""

import io
import json
import os
import sys

from repoze.who.config import make_api_factory_with_config


def environ_for(request):
    environ = {
        "REQUEST_METHOD": request.get("method", "GET"),
        "SCRIPT_NAME": "",
        "PATH_INFO": request["path"],
        "QUERY_STRING": request.get("query", ""),
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "80",
        "REMOTE_ADDR": request.get("remote_addr", "127.0.0.1"),
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": sys.stderr,
    }
    for name, value in request.get("headers", []):
        key = name.upper().replace("-", "_")
        if key == "CONTENT_TYPE":
            environ["CONTENT_TYPE"] = value
        else:
            environ["HTTP_" + key] = value
    return environ


def answer(factory, request):
    environ = environ_for(request)
    api = factory(environ)
    if "login" in request:
        credentials = {"login": request["login"], "password": request["password"]}
        identity, headers = api.login(credentials, "auth_tkt")
        return {
            "userid": identity["repoze.who.userid"] if identity else None,
            "headers": [list(h) for h in headers],
        }
    identity = api.authenticate()
    result = {
        "userid": identity["repoze.who.userid"] if identity else None,
        "challenge": None,
    }
    if identity is None:
        app = api.challenge("401 Unauthorized", [])
        if app is not None:
            seen = {}

            def start_response(status, headers, exc_info=None):
                seen["status"] = status
                seen["headers"] = [list(h) for h in headers]

            b"".join(app(environ, start_response))
            result["challenge"] = seen
    return result


def main():
    path = os.path.abspath(sys.argv[1])
    factory = make_api_factory_with_config({"here": os.path.dirname(path)}, path)
    if not factory.identifiers:
        sys.exit("repoze.who built no identifiers from %s" % path)
    requests = json.load(sys.stdin)
    json.dump([answer(factory, r) for r in requests], sys.stdout)


if __name__ == "__main__":
    main()
