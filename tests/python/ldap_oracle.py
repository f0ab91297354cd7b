"""Runs real repoze.who with the real who_ldap plugins on a who.ini, for rewho's LDAP interop
test (host/tests/ldap_python.rs): the same who.ini and the same slapd, answered by both.

    ldap_oracle.py WHO_INI < logins.json > answers.json

Standard input is a JSON list of [login, password] pairs, sent as HTTP Basic credentials.
Standard output is one answer per pair, in order:

  {"userid": str | null, "identity": {key: value, ...}, "error": str | null}

`identity` holds the keys the plugins added (lists for multi-valued attributes and groups),
without the password, the plugin objects and `userdata`. `error` is set when the call raised
(who_ldap lets some LDAP errors escape): the login then did not succeed either.
"""

import base64
import io
import json
import os
import sys

from repoze.who.config import make_api_factory_with_config

HIDDEN = {"password", "identifier", "authenticator", "userdata"}


def environ_for(login, password):
    token = base64.b64encode(("%s:%s" % (login, password)).encode("utf-8")).decode("ascii")
    return {
        "REQUEST_METHOD": "GET",
        "SCRIPT_NAME": "",
        "PATH_INFO": "/",
        "QUERY_STRING": "",
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "80",
        "REMOTE_ADDR": "127.0.0.1",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": sys.stderr,
        "HTTP_AUTHORIZATION": "Basic " + token,
    }


def plain(value):
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def answer(factory, login, password):
    api = factory(environ_for(login, password))
    try:
        identity = api.authenticate()
    except Exception as e:  # who_ldap lets ldap3 exceptions escape
        return {"userid": None, "identity": {}, "error": "%s: %s" % (type(e).__name__, e)}
    if identity is None:
        return {"userid": None, "identity": {}, "error": None}
    keys = {
        str(k): plain(v)
        for k, v in identity.items()
        if k not in HIDDEN and k != "repoze.who.userid" and k != "login"
    }
    return {"userid": identity["repoze.who.userid"], "identity": keys, "error": None}


def main():
    path = os.path.abspath(sys.argv[1])
    factory = make_api_factory_with_config({"here": os.path.dirname(path)}, path)
    if not factory.authenticators:
        sys.exit("repoze.who built no authenticators from %s" % path)
    pairs = json.load(sys.stdin)
    json.dump([answer(factory, login, password) for login, password in pairs], sys.stdout)


if __name__ == "__main__":
    main()
