#!/usr/bin/env python3
"""Writes the zone_* regression archives in tests/data/regress (CPython's zipfile, not torch).

Every record but the last is stamped 2023-10-29 02:30, a clock time Europe/Berlin repeats, the
last 2023-07-01 12:00: libzip's mktime-based time check answers differently from run to run under
that zone (docs/zip.md). One archive is all stored and plain (decided without ZIP_CHECKCONS), the
other deflated (refused before libzip). fuzz/CMakeLists.txt replays them under TZ=Europe/Berlin.
"""
import pathlib
import zipfile

HERE = pathlib.Path(__file__).resolve().parent / "regress"
STAMPS = [(2023, 10, 29, 2, 30, 0)] * 3 + [(2023, 7, 1, 12, 0, 0)]

# 02:59:60, which glibc's mktime looks up as 02:59:59 (seconds capped at 59): in the repeated
# hour too, though it normalises to 03:00:00 (red-team finding, bench/NOTES.md 46).
LEAP = [(2023, 10, 29, 2, 59, 60)] * 3 + [(2023, 7, 1, 12, 0, 0)]

for name, method, stamps in (("zone_repeated_hour_stored.zip", zipfile.ZIP_STORED, STAMPS),
                             ("zone_repeated_hour_deflated.zip", zipfile.ZIP_DEFLATED, STAMPS),
                             ("zone_repeated_second_60_deflated.zip", zipfile.ZIP_DEFLATED, LEAP)):
    with zipfile.ZipFile(HERE / name, "w") as z:
        for i, stamp in enumerate(stamps):
            info = zipfile.ZipInfo(f"archive/data/{i}", date_time=stamp)
            info.compress_type = method
            z.writestr(info, bytes(range(64)) * 4)
