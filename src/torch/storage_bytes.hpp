// A storage's bytes for a check that needs data in every load mode.
#pragma once

#include <cstddef>
#include <span>
#include <vector>

#include "model/state.hpp"

namespace pthsafe::detail {

/// The little-endian bytes of `s`, placed or not: its placed bytes when it has them; otherwise
/// the stored record or legacy byte range inside the file (zero-copy), or the record inflated /
/// byte-swapped into `scratch`. Sparse index invariants use it so that a scan (metadata mode)
/// judges a file exactly as a load does. Errors: zip_inflate_*, zip_crc_mismatch,
/// limit_exceeded, missing_record (a storage with no source of bytes).
result<std::span<const std::byte>> storage_le_bytes(const checkpoint_state& st, const storage_record& s,
                                                    std::vector<std::byte>& scratch, const limits& lim);

}  // namespace pthsafe::detail
