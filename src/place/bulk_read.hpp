// Copy-mode I/O: storage buffers in fresh memory, filled straight from the file.
//
// On Linux the cost of a copy load of a page-cached file is dominated by the kernel faulting
// and zeroing the new pages (on a VM, the host backing them), not by the copy itself
// (bench/NOTES.md). So large totals are read by several threads: faults proceed on every core.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "io/source.hpp"
#include "pthsafe/error.hpp"

namespace pthsafe::detail {

/// One storage to fill: [file_offset, file_offset + nbytes) of the source into dst.
struct read_job {
  std::uint64_t file_offset = 0;
  std::byte* dst = nullptr;
  std::uint64_t nbytes = 0;
  std::string_view record;  // named in errors
};

/// Fills every job. Totals of at least parallel_read_min bytes are cut into chunks that up to
/// min(usable CPUs, 8) threads read concurrently; smaller ones are read in this thread.
/// Errors: io_read (the first failing chunk; its record and file offset).
result<void> read_all(const source& src, std::span<const read_job> jobs);

inline constexpr std::uint64_t parallel_read_min = std::uint64_t{64} << 20;

/// Storage bytes in fresh memory, 64-byte aligned. Buffers of at least large_buffer_min bytes
/// are private anonymous mappings (returned to the system when freed); smaller ones come from
/// aligned_alloc. Returns null when out of memory. Release with free_storage_bytes(p, n).
std::byte* alloc_storage_bytes(std::size_t n);
void free_storage_bytes(std::byte* p, std::size_t n) noexcept;

inline constexpr std::size_t large_buffer_min = std::size_t{2} << 20;

}  // namespace pthsafe::detail
