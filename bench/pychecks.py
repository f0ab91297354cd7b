"""Working check functions for repoze.who's htpasswd plugin on Python 3.

repoze.who 3.1's own `sha1_check` compares the file's `str` with a `bytes` digest and
`crypt_check` takes a two-character salt, so neither verifies `{SHA}` or bcrypt entries on
Python 3. bench/compare.sh points the Python side at these instead (rewho auto-detects the
format, so its side keeps repoze.who's names).
"""
import base64
import hashlib
import hmac

import bcrypt


def sha1_check(password, hashed):
    digest = base64.standard_b64encode(hashlib.sha1(password.encode()).digest()).decode()
    return hmac.compare_digest(hashed, "{SHA}" + digest)


def bcrypt_check(password, hashed):
    return bcrypt.checkpw(password.encode(), hashed.encode())
