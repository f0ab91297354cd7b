"""Runs repoze.who's real auth_tkt code for rewho's interop tests.

    authtkt_oracle.py < requests.json > answers.json

Standard input is a JSON list of requests; standard output is a JSON list with one answer per
request, in order. Each request has an "op":

  mint      {secret, userid, ip, tokens, user_data, time, digest_algo}
            -> {"value": AuthTicket(...).cookie_value()} or {"error": "..."}
  parse     {secret, ticket, ip, digest_algo}
            -> {"timestamp", "userid", "tokens", "user_data"} or {"error": "BadTicket: ..."}
  identify  {plugin, environ, now} -> {"identity": {...} | null, "environ": {REMOTE_USER_*}}
  remember  {plugin, environ, identity, now} -> {"headers": [[name, value], ...]}
  forget    {plugin, environ, now} -> {"headers": [[name, value], ...]}

`plugin` holds AuthTktCookiePlugin's keyword arguments (secret, cookie_name, secure,
include_ip, timeout, reissue_time, digest_algo, samesite); `environ` is a WSGI environ
(HTTP_COOKIE, HTTP_HOST, REMOTE_ADDR). `now` fixes both `time.time()` and the plugin's
`_utcnow()`. A userid given as {"int": N} is the Python int N (JSON cannot tell apart the
str "1" and the int 1 otherwise); identities come back the same way.
"""

import datetime
import json
import sys
import time

import repoze.who._auth_tkt as auth_tkt
import repoze.who.plugins.auth_tkt as plugin_mod

_real_time = time.time


def fix_time(now):
    if now is None:
        time.time = _real_time
        plugin_mod._UTCNOW = None
    else:
        time.time = lambda: now
        plugin_mod._UTCNOW = datetime.datetime(1970, 1, 1) + datetime.timedelta(seconds=now)


def from_json(value):
    if isinstance(value, dict):
        if set(value) == {"int"}:
            return int(value["int"])
        return {k: from_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [from_json(v) for v in value]
    return value


def to_json(value):
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return {"int": value}
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    return value


def make_plugin(kw):
    return plugin_mod.AuthTktCookiePlugin(
        kw["secret"],
        cookie_name=kw.get("cookie_name", "auth_tkt"),
        secure=kw.get("secure", False),
        include_ip=kw.get("include_ip", False),
        timeout=kw.get("timeout"),
        reissue_time=kw.get("reissue_time"),
        digest_algo=kw.get("digest_algo", "md5"),
        samesite=kw.get("samesite"),
    )


def run(req):
    op = req["op"]
    fix_time(req.get("now"))
    if op == "mint":
        try:
            ticket = auth_tkt.AuthTicket(
                req["secret"],
                from_json(req["userid"]),
                req.get("ip", "0.0.0.0"),
                tokens=req.get("tokens", ()),
                user_data=req.get("user_data", ""),
                time=req["time"],
                digest_algo=req.get("digest_algo", "md5"),
            )
            return {"value": ticket.cookie_value()}
        except Exception as e:  # ValueError for separators, etc.
            return {"error": "%s: %s" % (type(e).__name__, e)}
    if op == "parse":
        try:
            ts, userid, tokens, user_data = auth_tkt.parse_ticket(
                req["secret"],
                req["ticket"],
                req.get("ip", "0.0.0.0"),
                req.get("digest_algo", "md5"),
            )
            return {"timestamp": ts, "userid": userid, "tokens": tokens, "user_data": user_data}
        except Exception as e:
            return {"error": "%s: %s" % (type(e).__name__, e)}
    plugin = make_plugin(req["plugin"])
    environ = dict(req.get("environ", {}))
    if op == "identify":
        try:
            identity = plugin.identify(environ)
        except Exception as e:
            return {"error": "%s: %s" % (type(e).__name__, e)}
        if identity is not None and plugin.authenticate(environ, identity) is None:
            identity = None
        extra = {k: environ[k] for k in ("REMOTE_USER_TOKENS", "REMOTE_USER_DATA", "AUTH_TYPE")
                 if k in environ}
        return {"identity": to_json(identity), "environ": to_json(extra)}
    if op == "remember":
        try:
            headers = plugin.remember(environ, from_json(req["identity"]))
        except Exception as e:
            return {"error": "%s: %s" % (type(e).__name__, e)}
        return {"headers": [list(h) for h in (headers or [])]}
    if op == "forget":
        return {"headers": [list(h) for h in plugin.forget(environ, {})]}
    raise SystemExit("unknown op %r" % op)


def main():
    requests = json.load(sys.stdin)
    json.dump([run(r) for r in requests], sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
