"""Summarises a fuzz.sh campaign from libFuzzer's logs into the results document (section "fuzzing").

Usage: fuzz_report.py BUILD_DIR COMMAND HARNESS...   (fuzz.sh calls it after a campaign by run count)
Reads BUILD_DIR/corpus_HARNESS.log for each harness: executions, rate, coverage, slowest input and peak
RSS as libFuzzer printed them (-print_final_stats=1).
"""
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import results_doc  # noqa: E402


def stats(log):
    text = open(log, encoding="utf-8", errors="replace").read()
    def stat(name):
        m = re.findall(rf"stat::{name}:\s*(\d+)", text)
        return int(m[-1]) if m else None
    cov = re.findall(r"\bcov: (\d+)", text)
    clean = "ERROR: libFuzzer" not in text and "SUMMARY:" not in text
    return {"runs": stat("number_of_executed_units"), "rate": stat("average_exec_per_sec"),
            "slowest": stat("slowest_unit_time_sec"), "rss": stat("peak_rss_mb"),
            "cov": int(cov[-1]) if cov else None, "clean": clean}


def main():
    build, command, harnesses = sys.argv[1], sys.argv[2], sys.argv[3:]
    rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    rows = ["| harness | executions | inputs/s | edges covered | slowest input | peak RSS | result |",
            "|---|---:|---:|---:|---:|---:|---|"]
    for h in harnesses:
        s = stats(os.path.join(build, f"corpus_{h}.log"))
        fmt = lambda v, unit="": "-" if v is None else f"{v:,}{unit}"
        rows.append(f"| {h} | {fmt(s['runs'])} | {fmt(s['rate'])} | {fmt(s['cov'])} | "
                    f"{'< 1 s' if s['slowest'] == 0 else fmt(s['slowest'], ' s')} | {fmt(s['rss'], ' MiB')} | "
                    f"{'clean' if s['clean'] else 'FINDING'} |")
    body = (f"libFuzzer with ASan+UBSan on commit {rev}, seeds: fuzz/corpus, tests/fixtures, tests/hostile/files, "
            f"tests/data/regress and the corpora grown by earlier runs; dictionary fuzz/pthsafe.dict. Harnesses that "
            f"run together share the machine's cores, so rates are per share.\n\n" + "\n".join(rows))
    print(results_doc.write_section("fuzzing", "Fuzzing campaign", command, body))


if __name__ == "__main__":
    main()
