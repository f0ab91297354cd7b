#!/usr/bin/env python3
"""Reproduces the test vectors of the `memcached` plugin (see host/tests/caching_memcached.rs
and plugins/memcached/client/src/memcached.rs).

Keys: repoze.who.plugins.memcached 0.1.1's `_get_cache_key`, ported to Python 3 bytes:
    hmac.new(secret, method, sha1); update(b"\\0"); for item: update(str(value)); update(b"\\0")

Server placement: pylibmc's default (libmemcached "modula" distribution with the
one-at-a-time hash). With `--pylibmc HOST:PORT ...` (servers you started, and
`python3-pylibmc` installed), keys are set through pylibmc and the server that holds each is
printed, which is how the table in memcached.rs was recorded.

Usage:
    memcached_vectors.py                      # the vectors the tests use
    memcached_vectors.py --pylibmc 127.0.0.1:21211 127.0.0.1:21212 127.0.0.1:21213
"""
import hashlib
import hmac
import socket
import sys


def cache_key(secret, method, identity, key_items=None):
    if key_items is None:
        key_items = sorted(identity.keys())
    h = hmac.new(secret.encode(), method.encode(), hashlib.sha1)
    h.update(b"\x00")
    for name in key_items:
        h.update(str(identity.get(name, "")).encode())
        h.update(b"\x00")
    return h.hexdigest()


def one_at_a_time(key):
    v = 0
    for b in key.encode():
        v = (v + b) & 0xFFFFFFFF
        v = (v + (v << 10)) & 0xFFFFFFFF
        v ^= v >> 6
    v = (v + (v << 3)) & 0xFFFFFFFF
    v ^= v >> 11
    return (v + (v << 15)) & 0xFFFFFFFF


def holder(servers, key):
    for index, server in enumerate(servers):
        host, port = server.rsplit(":", 1)
        with socket.create_connection((host, int(port)), timeout=2) as s:
            s.sendall(("get %s\r\n" % key).encode())
            if s.recv(4096).startswith(b"VALUE"):
                return index
    return None


def main(argv):
    print("known vector:", cache_key("secret", "authenticate", {"username": "test1"}))
    print("bob/pw:      ", cache_key("secret", "authenticate", {"login": "bob", "password": "pw"}))
    print("bob/pw-wrong:", cache_key("secret", "authenticate", {"login": "bob", "password": "pw-wrong"}))
    keys = [cache_key("secret", "authenticate", {"username": "user%d" % i}) for i in range(12)]
    if argv[:1] == ["--pylibmc"]:
        import pylibmc

        servers = argv[1:]
        client = pylibmc.Client(servers)
        for k in keys:
            client.set(k, "v")
        for k in keys:
            print(k, holder(servers, k), one_at_a_time(k) % len(servers))
    else:
        for k in keys:
            print(k, one_at_a_time(k) % 3)


if __name__ == "__main__":
    main(sys.argv[1:])
