"""Fail when the environment holds a package that constraints.txt does not pin at that version.

Proves that an install from the project's own files reproduced the tested versions (the
``+cpu`` local label of a CPU-only wheel counts as the pinned release).
"""

from __future__ import annotations

import sys
from importlib.metadata import distributions
from pathlib import Path

from packaging.utils import canonicalize_name
from packaging.version import Version

IGNORED = {"assay", "pip"}


def pins(path: Path) -> dict[str, Version]:
    pinned = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            pinned[canonicalize_name(name)] = Version(version)
    return pinned


def main(path: str) -> int:
    pinned = pins(Path(path))
    problems = []
    for dist in distributions():
        name = canonicalize_name(dist.metadata["Name"])
        if name in IGNORED:
            continue
        version = Version(dist.version)
        if name not in pinned:
            problems.append(f"{name} {version} is installed but not pinned")
        elif Version(version.public) != pinned[name]:
            problems.append(f"{name} {version} is installed, {pinned[name]} is pinned")
    for problem in problems:
        print(f"{path}: {problem}", file=sys.stderr)
    if problems:
        print("refresh the pins with scripts/lock", file=sys.stderr)
        return 1
    print(f"{path}: every installed package is at its pinned version")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
