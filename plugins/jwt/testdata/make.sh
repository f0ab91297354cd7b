#!/usr/bin/env bash
# Regenerates the test public keys and the tokens OpenSSL signs with their (discarded) private
# keys: an outside oracle for the jwt plugin's RS256/ES256 checks. No private key is kept.
set -euo pipefail
cd "$(dirname "$0")"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out rs256.key.pem 2>/dev/null
openssl pkey -in rs256.key.pem -pubout -out rs256.pub.pem
openssl rsa -in rs256.key.pem -RSAPublicKey_out -out rs256.pkcs1.pub.pem 2>/dev/null
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out es256.key.pem
openssl pkey -in es256.key.pem -pubout -out es256.pub.pem

b64url() { base64 -w0 | tr '+/' '-_' | tr -d '='; }
claims='{"sub":"openssl-user","groups":["a","b"],"exp":2000000000}'
for alg in RS256 ES256; do
  lower=$(echo "$alg" | tr 'A-Z' 'a-z')
  input="$(printf '{"alg":"%s","typ":"JWT"}' "$alg" | b64url).$(printf '%s' "$claims" | b64url)"
  printf '%s' "$input" | openssl dgst -sha256 -sign "$lower.key.pem" -out sig.der
  if [ "$alg" = ES256 ]; then
    # JWS wants r || s (32 bytes each), OpenSSL writes DER.
    python3 - sig.der <<'PY'
import sys
der = open(sys.argv[1], "rb").read()
assert der[0] == 0x30
i = 2 if der[1] < 0x80 else 3
out = b""
for _ in range(2):
    assert der[i] == 0x02
    n = der[i + 1]
    out += der[i + 2 : i + 2 + n].lstrip(b"\0").rjust(32, b"\0")
    i += 2 + n
open(sys.argv[1], "wb").write(out)
PY
  fi
  printf '%s.%s\n' "$input" "$(b64url < sig.der)" > "$lower.openssl.jwt"
  rm sig.der
done
rm rs256.key.pem es256.key.pem
echo "test keys and tokens written to $(pwd)"
