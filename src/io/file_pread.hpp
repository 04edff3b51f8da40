// Reading bytes of a mapped file without faulting its pages in (zip/local_reads.hpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>

namespace pthsafe::detail {

/// Copies file bytes [offset, offset + dst.size()) into dst through the file descriptor
/// (source::read_into), not the mapping; false on a read error. Empty: read the mapping.
using file_pread = std::function<bool(std::uint64_t offset, std::span<std::byte> dst)>;

}  // namespace pthsafe::detail
