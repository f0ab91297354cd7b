"""Mints HMAC-signed JWTs with the Python standard library, for rewho's session tests.

    jwt_mint.py --secret S [--alg HS256|HS384|HS512|none] CLAIMS_JSON...

Prints one compact token per claims document. `--alg none` makes an unsigned token (empty
signature), which rewho must refuse.
"""

import argparse
import base64
import hashlib
import hmac
import json
import sys


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--secret", required=True)
    parser.add_argument("--alg", default="HS256")
    parser.add_argument("claims", nargs="+")
    args = parser.parse_args()
    digests = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}
    header = b64url(json.dumps({"alg": args.alg, "typ": "JWT"}, separators=(",", ":")).encode())
    for claims in args.claims:
        payload = b64url(json.dumps(json.loads(claims), separators=(",", ":")).encode())
        signing_input = f"{header}.{payload}"
        if args.alg == "none":
            signature = ""
        else:
            mac = hmac.new(args.secret.encode(), signing_input.encode(), digests[args.alg])
            signature = b64url(mac.digest())
        print(f"{signing_input}.{signature}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
