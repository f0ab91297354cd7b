#!/usr/bin/env bash
# Creates <workspace>/.venv with the Python interop oracles (repoze.who, itsdangerous, …).
# Idempotent: re-running only installs what is missing. Tests look for .venv/bin/python
# (or $REWHO_PYTHON).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
venv="$root/.venv"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$root/tests/python/requirements.txt"
"$venv/bin/python" -c 'import django, mama_cas; print("CAS test server (django-mama-cas", mama_cas.__version__, "on Django", django.get_version() + ") ready")'
"$venv/bin/python" -c 'import repoze.who.api, repoze.who.plugins.auth_tkt, itsdangerous, who_ldap; print("python oracles ready")'
"$venv/bin/traefik" version >/dev/null && echo "traefik ready"
