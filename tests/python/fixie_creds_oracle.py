"""Runs fixie-creds' real credentials cache (fixie_creds/cache.py) for rewho's interop tests.

    fixie_creds_oracle.py < requests.json > answers.json

fixie-creds 0.0.1 does not import as published: its package imports `fixie.environ` (and
xonsh), which are not on the registry. cache.py itself needs only `fixie.environ.ENV` and
`fixie.environ.expand_and_make_dir`, so this script puts small stand-ins for those in
`sys.modules` and loads cache.py straight from the installed package, without running the
package's __init__.

Standard input is a JSON list of requests; standard output a JSON list with one answer per
request, in order. Every request has "op", "credsdir" and optionally "nbytes" (default 20) and
"seed" (Python's random.seed, for reproducible tokens). Each request starts from an empty
in-memory cache (as a fresh process would), so everything is read from the folder:

  register     {user, email}               -> {"result": [token_or_message, flag]}
  register_many {users: [...], email}      -> {"result": [[token_or_message, flag], ...]}
  verify       {user, token}               -> {"result": [verified, message, flag]}
  deregister   {user, token}               -> {"result": [message, flag]}
  reset        {user, email}               -> {"result": [token_or_message, flag]}
  hash_token   {token}                     -> {"result": hexdigest}
  user_exists  {user}                      -> {"result": bool}
  get_user     {user}                      -> {"result": {"user", "email", "hashed_token"}}
  write_user   {user, email, hashed_token} -> {"result": null}
  user_cred_file {user}                    -> {"result": path}

An exception becomes {"error": "<type>: <message>"}.
"""

import importlib.util
import json
import os
import sys
import types


def install_fixie_stand_ins():
    environ = types.ModuleType("fixie.environ")
    environ.ENV = {"FIXIE_CREDS_DIR": os.environ.get("FIXIE_CREDS_DIR", "")}

    def expand_and_make_dir(path):
        path = os.path.abspath(os.path.expanduser(os.path.expandvars(path)))
        os.makedirs(path, exist_ok=True)
        return path

    environ.expand_and_make_dir = expand_and_make_dir
    fixie = types.ModuleType("fixie")
    fixie.__path__ = []
    fixie.environ = environ
    sys.modules["fixie"] = fixie
    sys.modules["fixie.environ"] = environ


def load_cache_module():
    spec = importlib.util.find_spec("fixie_creds")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("fixie-creds is not installed in this Python (pip install fixie-creds, "
                 "or run tests/python/setup-venv.sh)")
    path = os.path.join(list(spec.submodule_search_locations)[0], "cache.py")
    cache_spec = importlib.util.spec_from_file_location("fixie_creds.cache", path)
    module = importlib.util.module_from_spec(cache_spec)
    cache_spec.loader.exec_module(module)
    return module


def run(cache_mod, req):
    # Cache is a singleton whose __new__ takes no arguments: re-initialise the one instance.
    c = cache_mod.CACHE
    c.__init__(credsdir=req["credsdir"], seed=req.get("seed"), nbytes=req.get("nbytes", 20))
    op = req["op"]
    if op == "register":
        return list(c.register(req["user"], req["email"]))
    if op == "register_many":
        return [list(c.register(u, req["email"])) for u in req["users"]]
    if op == "verify":
        return list(c.verify(req["user"], req["token"]))
    if op == "deregister":
        return list(c.deregister(req["user"], req["token"]))
    if op == "reset":
        return list(c.reset(req["user"], req["email"]))
    if op == "hash_token":
        return c.hash_token(req["token"])
    if op == "user_exists":
        return c.user_exists(req["user"])
    if op == "get_user":
        return c.get_user(req["user"])._asdict()
    if op == "write_user":
        c.write_user(req["user"], req["email"], req["hashed_token"])
        return None
    if op == "user_cred_file":
        return c.user_cred_file(req["user"])
    raise ValueError("unknown op " + repr(op))


def main():
    install_fixie_stand_ins()
    cache_mod = load_cache_module()
    answers = []
    for req in json.load(sys.stdin):
        try:
            answers.append({"result": run(cache_mod, req)})
        except Exception as e:  # reported to the test, which decides
            answers.append({"error": "%s: %s" % (type(e).__name__, e)})
    json.dump(answers, sys.stdout)


if __name__ == "__main__":
    main()
