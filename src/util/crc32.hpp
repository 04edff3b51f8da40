// CRC-32 as zip records carry it (zlib's crc32: reflected polynomial 0xEDB88320, the state
// inverted before and after). zlib's own runs at ~3 GB/s here (3.6 ms for a 100,000-tensor
// pickle, checked on every load); on x86-64 with PCLMULQDQ the bulk is folded 64 bytes at a time
// by carry-less multiplication (~10x), and zlib does the rest (bench/NOTES.md 48).
#pragma once

#include <cstdint>
#include <span>

namespace pthsafe::detail {

/// The CRC-32 of `bytes` continued from `crc` (0 to start): zlib's crc32(crc, bytes), any length.
std::uint32_t crc32_update(std::uint32_t crc, std::span<const std::byte> bytes) noexcept;
/// The same through zlib alone (tests compare the two; the fallback where PCLMULQDQ is missing).
std::uint32_t crc32_update_zlib(std::uint32_t crc, std::span<const std::byte> bytes) noexcept;
/// True when crc32_update folds with PCLMULQDQ on this CPU.
bool crc32_folds() noexcept;

}  // namespace pthsafe::detail
