// Would CPython's `tarfile.open(fileobj=f, mode="r:")` open these bytes?
//
// torch.load tries that call first for every file that does not start with PK\3\4 (both the
// 1.13 and 2.x `_legacy_load`), and falls back to the pickle reader only when it raises
// tarfile.TarError. What tarfile accepts is far more than the `ustar` magic: the old V7 format
// has no magic at all, only a header checksum, and the checksum field is parsed by `nti`, which
// takes base-256 fields and Python's octal `int()` syntax (signs, underscores, `0o` prefixes,
// surrounding whitespace). A file that passes here is a tar file to torch, whatever else it
// also parses as (a bare pickle, a legacy stream).
#pragma once

#include <cstddef>
#include <span>

namespace pthsafe::detail {

/// True when `tarfile.open(mode="r:")` (CPython 3.8-3.13 `TarFile.__init__` -> `next()` ->
/// `TarInfo.frombuf`) does not raise on the first 512-byte block: the block is all NUL (an
/// empty archive), or its checksum field equals the unsigned or the signed sum of the block
/// (checksum field counted as spaces) and every numeric field frombuf parses is valid.
/// Member types whose processing reads further blocks (GNU long names, PAX headers, sparse
/// extensions) are counted as tar without following them: torch either reads them as tar or
/// raises, and only an error in those later blocks would make it fall back to a pickle, so
/// treating them as tar errs on the side of refusing. Reads at most the first 512 bytes.
bool tarfile_would_open(std::span<const std::byte> file) noexcept;

/// The `ustar` magic at offset 257 (POSIX / GNU tar). Such a file is refused as tar even when
/// its checksum is wrong: GNU tar and other readers may be more lenient than CPython.
bool has_ustar_magic(std::span<const std::byte> file) noexcept;

}  // namespace pthsafe::detail
