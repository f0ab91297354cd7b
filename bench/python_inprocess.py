"""Times repoze.who's API in-process on a who.ini: the Python side of bench/compare.sh.

usage: python_inprocess.py WHO_INI REQUEST_JSON ITERATIONS
REQUEST_JSON: {"method": "GET", "path": "/", "query": "", "remote_addr": "127.0.0.1",
               "headers": [["Cookie", "auth_tkt=..."], ...], "op": "authenticate"}
Prints one JSON line: {"ns_per_op": float, "userid": str|null}.
"""
import json
import os
import sys
import time

from repoze.who.config import make_api_factory_with_config


def environ_for(req):
    env = {
        "REQUEST_METHOD": req.get("method", "GET"),
        "PATH_INFO": req.get("path", "/"),
        "QUERY_STRING": req.get("query", ""),
        "REMOTE_ADDR": req.get("remote_addr", "127.0.0.1"),
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "80",
        "wsgi.url_scheme": "http",
        "HTTP_HOST": "localhost",
    }
    for name, value in req.get("headers", []):
        key = name.upper().replace("-", "_")
        if key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            env[key] = value
        else:
            env["HTTP_" + key] = value
    return env


def main():
    who_ini, req_json, iterations = sys.argv[1], sys.argv[2], int(sys.argv[3])
    req = json.loads(req_json)
    here = os.path.dirname(os.path.abspath(who_ini))
    factory = make_api_factory_with_config({"here": here}, who_ini)
    op = req.get("op", "authenticate")
    userid = None

    def once():
        env = environ_for(req)
        api = factory(env)
        if op == "authenticate":
            identity = api.authenticate()
            return identity and identity.get("repoze.who.userid")
        if op == "challenge":
            api.authenticate()
            return api.challenge("401 Unauthorized", []) is not None
        if op == "remember":
            identity = api.authenticate()
            return bool(api.remember(identity))
        raise SystemExit("unknown op " + op)

    userid = once()
    start = time.perf_counter_ns()
    for _ in range(iterations):
        once()
    elapsed = time.perf_counter_ns() - start
    print(json.dumps({"ns_per_op": elapsed / iterations, "userid": userid}))


if __name__ == "__main__":
    main()
