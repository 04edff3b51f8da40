#!/usr/bin/env python3
"""Fail when a source file under src/ includes a header from a higher layer.

    python3 scripts/check_layers.py [REPO_ROOT]

The layers, bottom to top, are listed in LAYERS (docs/architecture.md explains them). A file may
include headers of its own folder, of any lower layer and the public headers (include/pthsafe/).
Run by ctest as `layers`.
"""
import pathlib
import re
import sys

LAYERS = ["util", "io", "zip", "model", "pickle", "place", "torch", "load", "device", "write", "workflow", "scan", "report", "cli"]
RANK = {name: i for i, name in enumerate(LAYERS)}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def main():
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ".").resolve()
    src = root / "src"
    problems = []
    folders = sorted(p.name for p in src.iterdir() if p.is_dir())
    for f in folders:
        if f not in RANK:
            problems.append(f"src/{f}/ is not in the layer list of scripts/check_layers.py")
    for path in sorted(src.rglob("*")):
        if path.suffix not in (".cpp", ".hpp", ".inc") or not path.is_file():
            continue
        own = path.relative_to(src).parts[0]
        if own not in RANK:
            continue
        for inc in INCLUDE.findall(path.read_text(encoding="utf-8")):
            top = inc.split("/")[0]
            if top == "pthsafe" or top not in RANK:
                continue
            if RANK[top] > RANK[own]:
                problems.append(f"{path.relative_to(root)}: includes {inc} ({top} is above {own})")
    for p in problems:
        print(p)
    print(f"check_layers: {len(problems)} upward include(s) across {len(folders)} folders")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
