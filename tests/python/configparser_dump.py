#!/usr/bin/env python3
"""Print, as JSON, what Python's configparser makes of a who.ini.

Usage: configparser_dump.py FILE

The reference side of host/tests/config_python.rs. The file is read the way repoze.who's
``WhoConfig.parse`` reads it: ``configparser.ConfigParser(defaults=...)`` with default options,
fed by ``open()`` (text mode, universal newlines). The defaults are those the rewho host
passes: ``here`` (the file's absolute folder) and ``__file__`` (its absolute path).
repoze.who itself passes only ``here``; the encoding is ``utf-8-sig`` so that a BOM is
skipped, as rewho does.

Values are read in a fixed order, so that both sides meet the same first interpolation
error: every default (``get('DEFAULT', key)``), then for each section ``items(section)``
(which interpolates defaults too, as repoze.who does) and ``get(section, key)`` for the
section's own keys.

Output on success::

    {"ok": true,
     "defaults": [[key, value], ...],
     "sections": {name: {key: value}},          # own keys only, interpolated
     "section_order": [name, ...],
     "option_order": {name: [key, ...]},
     "items": {name: [[key, value], ...]}}      # ConfigParser.items(name), in order

On failure::

    {"ok": false, "error": "<exception class>", "line": N | null,
     "section": ... | null, "option": ... | null, "message": "..."}
"""

import configparser
import json
import os
import sys


def dump(path):
    path = os.path.abspath(path)
    cp = configparser.ConfigParser(
        defaults={"here": os.path.dirname(path), "__file__": path}
    )
    with open(path, encoding="utf-8-sig") as f:
        cp.read_file(f)
    out = {
        "ok": True,
        "defaults": [[k, cp.get(cp.default_section, k)] for k in cp.defaults()],
        "sections": {},
        "section_order": cp.sections(),
        "option_order": {},
        "items": {},
    }
    for name in cp.sections():
        out["items"][name] = [[k, v] for k, v in cp.items(name)]
        # The section's own keys: ConfigParser has no public way to tell them from
        # inherited defaults, so use its (long stable) internal dict.
        own = list(cp._sections[name])
        out["option_order"][name] = own
        out["sections"][name] = {k: cp.get(name, k) for k in own}
    return out


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    try:
        out = dump(sys.argv[1])
    except (configparser.Error, UnicodeDecodeError) as e:
        line = getattr(e, "lineno", None)
        if line is None and isinstance(e, configparser.ParsingError) and e.errors:
            line = e.errors[0][0]
        out = {
            "ok": False,
            "error": type(e).__name__,
            "line": line,
            "section": getattr(e, "section", None),
            "option": getattr(e, "option", None),
            "message": str(e),
        }
    json.dump(out, sys.stdout, ensure_ascii=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
