// When the strict directory walk alone decides an archive exactly as libzip 1.7 (opened with
// ZIP_CHECKCONS, the parser of record) would, so that a load may skip libzip's open: for a
// 100,000-record checkpoint that open is ~34 MB and 1.8 M allocations (bench/NOTES.md 16).
// docs/zip.md states the rule and its evidence; fuzz/fuzz_zip.cpp checks it on every input.
#pragma once

#include <cstddef>
#include <span>

#include "pthsafe/error.hpp"
#include "zip/directory.hpp"

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

}  // namespace pthsafe::detail
