"""Signs and unsigns session ids with the real itsdangerous, for rewho's interop tests.

    itsdangerous_oracle.py sign   --secret S [--alg sha256] [--salt SALT] VALUE...
    itsdangerous_oracle.py unsign --secret S [--alg sha256] [--salt SALT] SIGNED...

`sign` prints one signed value per line; `unsign` prints the value, or `BadSignature`.
The signer is `itsdangerous.Signer(secret, salt=..., digest_method=hashlib.<alg>)` with every
other parameter at its default (django-concat key derivation, `.` separator), as the original
impact-stack middleware builds it.
"""

import argparse
import hashlib
import sys

import itsdangerous


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("command", choices=["sign", "unsign"])
    parser.add_argument("--secret", required=True)
    parser.add_argument("--alg", default="sha256")
    parser.add_argument("--salt", default="itsdangerous.Signer")
    parser.add_argument("values", nargs="+")
    args = parser.parse_args()
    signer = itsdangerous.Signer(
        args.secret, salt=args.salt, digest_method=getattr(hashlib, args.alg)
    )
    for value in args.values:
        if args.command == "sign":
            print(signer.sign(value).decode())
        else:
            try:
                print(signer.unsign(value).decode())
            except itsdangerous.BadSignature:
                print("BadSignature")
    return 0


if __name__ == "__main__":
    sys.exit(main())
