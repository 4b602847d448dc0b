"""Compares two JSON-lines files of rows as multisets (floats to 1e-9 relative, times to the
millisecond: Flink's time attributes have millisecond precision), for bench/flink.sh.

usage: same_rows.py LABEL ILLUNARE.jsonl FLINK.jsonl   (exit 1 when they differ)
"""

import json
import re
import sys
from collections import Counter


def canonical(value):
    if isinstance(value, float):
        return float(f"{value:.9g}")
    if isinstance(value, str) and TIME.fullmatch(value):
        return value[:23]
    return value


TIME = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}")


def rows(path):
    with open(path) as f:
        return Counter(json.dumps([canonical(v) for v in json.loads(line)]) for line in f if line.strip())


def main():
    label, ours_path, theirs_path = sys.argv[1:4]
    ours, theirs = rows(ours_path), rows(theirs_path)
    if ours == theirs:
        print(f"{label}: same {sum(ours.values())} rows")
        return
    only_ours = ours - theirs
    only_theirs = theirs - ours
    print(f"{label}: DIFFERENT: illunare {sum(ours.values())} rows, Flink {sum(theirs.values())} rows")
    for row in list(only_ours)[:5]:
        print(f"  only illunare: {row}")
    for row in list(only_theirs)[:5]:
        print(f"  only Flink:    {row}")
    sys.exit(1)


if __name__ == "__main__":
    main()
