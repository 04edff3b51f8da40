"""Writes one section of docs/results.md, the generated results document.

Every figure in docs/results.md comes from a script that measured it: each script owns one section,
delimited by `<!-- begin NAME -->` / `<!-- end NAME -->`, and rewrites it in place on every run
(with the command and date that produced it). Sections the run did not touch keep their content.
"""
import datetime
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOC = os.path.join(ROOT, "docs", "results.md")
HEADER = ("# Results\n\n"
          "Generated: every section below is written by the script named in it, from one run of that\n"
          "script (`scripts/results_doc.py` replaces the section in place). Do not edit by hand; rerun.\n")
ORDER = ["head_to_head", "real_checkpoints", "performance", "python", "fuzzing"]


def write_section(name, title, command, body, path=DOC):
    """Replaces section `name` of the results document with `body` (Markdown), noting the command."""
    text = open(path, encoding="utf-8").read() if os.path.exists(path) else HEADER
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
    block = (f"<!-- begin {name} -->\n## {title}\n\nGenerated {stamp} by `{command}`.\n\n"
             f"{body.strip()}\n<!-- end {name} -->")
    pattern = re.compile(rf"<!-- begin {re.escape(name)} -->.*?<!-- end {re.escape(name)} -->", re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _: block, text)
    else:
        # keep the sections in a fixed order whatever order the scripts first ran in
        later = [n for n in ORDER[ORDER.index(name) + 1:] if name in ORDER] if name in ORDER else []
        at = min((text.find(f"<!-- begin {n} -->") for n in later if f"<!-- begin {n} -->" in text), default=-1)
        text = (text[:at] + block + "\n\n" + text[at:]) if at >= 0 else (text.rstrip("\n") + "\n\n" + block + "\n")
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return path
