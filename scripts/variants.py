#!/usr/bin/python3
"""Variant names of a variants file (configs/TASK/variants.yaml, docs/configuration.md "Variants"),
one a line, in the file's order: the list the scripts iterate over.

  scripts/variants.py configs/sst2/variants.yaml                # every variant
  scripts/variants.py configs/sst2/variants.yaml erm fgm         # these, checked against the file
  scripts/variants.py configs/sst2/variants.yaml all freelb      # `all` = every variant

Exits 2 with one line naming the file, the unknown name and the file's variants."""
import difflib
import sys

import yaml


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    path, wanted = sys.argv[1], sys.argv[2:]
    try:
        with open(path) as f:
            data = yaml.safe_load(f)
    except (OSError, yaml.YAMLError) as e:
        print(f"variants.py: {path}: {' '.join(str(e).split())}", file=sys.stderr)
        sys.exit(2)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        print(f"variants.py: {path}: expected a mapping of variant names to overrides", file=sys.stderr)
        sys.exit(2)
    names = [str(n) for n in data]
    out = []
    for w in wanted or ["all"]:
        if w == "all":
            out += names
        elif w in names:
            out.append(w)
        else:
            close = difflib.get_close_matches(w, names, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            print(f"variants.py: {path}: unknown variant '{w}'{hint}; variants: {', '.join(names)}", file=sys.stderr)
            sys.exit(2)
    print("\n".join(out))


if __name__ == "__main__":
    main()
