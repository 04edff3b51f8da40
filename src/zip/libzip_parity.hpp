// When the strict directory walk alone decides an archive exactly as libzip 1.7 (opened with
// ZIP_CHECKCONS, the parser of record) would, so that a load may skip libzip's open: for a
// 100,000-record checkpoint that open is ~34 MB and 1.8 M allocations (bench/NOTES.md 16).
// docs/zip.md states the rule and its evidence; fuzz/fuzz_zip.cpp checks it on every input.
#pragma once

#include <cstddef>
#include <optional>
#include <span>

#include "pthsafe/error.hpp"
#include "zip/directory.hpp"
#include "zip/dos_time.hpp"

namespace pthsafe::detail {

/// For a directory the strict walk accepted (read_directory, check_local_headers, the name and
/// root checks of archive::open): true when every record is stored and "plain" (printable ASCII
/// names, no comments, no Unicode-path extra fields, exact zip64 extra fields, no zip64 sizes in
/// local headers, local and central modification times byte-equal, no archive comment), where
/// libzip's remaining checks reduce to the ones applied here; false when libzip must be asked.
/// Errors (what libzip would refuse at open): zip_libzip_rejected for a local extra field libzip's
/// parser refuses, or a local header needing a newer version than the central entry.
/// `release` as for check_local_headers (the local headers are read again here).
result<bool> decided_without_libzip(std::span<const std::byte> file, const zip_directory& dir,
                                    const page_release& release = {}, local_reads* reads = nullptr);

/// decided_without_libzip's two parts, for a walk that visits entries one at a time: the end
/// records (no archive comment), and one entry (central header and local header, read through
/// `reads`). Same answers and errors as decided_without_libzip gives for an archive whose ends
/// are plain and whose other entries are all plain.
bool libzip_plain_ends(std::span<const std::byte> file);
result<bool> libzip_plain_entry(std::span<const std::byte> file, const zip_entry& e, local_reads& reads);

/// For each entry of an archive that libzip is about to open with ZIP_CHECKCONS: libzip then
/// compares the entry's local and central modification times after mktime, and where either is
/// a clock time the process's zone repeats or skips, that comparison changes from run to run
/// (zip/dos_time.hpp). Refused here instead, as zip_libzip_rejected (the code libzip's refusal
/// has), naming the entry and the header: the verdict is then the same on every run. Plain
/// archives never reach this (libzip opens them without ZIP_CHECKCONS, or not at all), so
/// torch-written files are not affected. The local header is read through `reads` as far as the
/// file goes; `zone` carries the last answer from entry to entry.
result<void> libzip_times_stable(std::span<const std::byte> file, const zip_entry& e, local_reads& reads,
                                 stable_clock_times& zone);

/// libzip_times_stable over every entry: the first entry's refusal, or nothing when every time is
/// stable. `release` as for check_local_headers.
std::optional<error> first_unstable_time(std::span<const std::byte> file, const zip_directory& dir,
                                         const page_release& release, local_reads& reads);

}  // namespace pthsafe::detail
