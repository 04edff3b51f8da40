// Placement: giving validated storages their bytes. Runs only after the whole pickle has been
// interpreted and every view checked, so nothing is read for a file that will be refused.
#pragma once

#include "model/state.hpp"
#include "pthsafe/options.hpp"

namespace pthsafe::detail {

/// Places every storage of `st` according to opts.mode: copy (aligned owned buffer, read
/// straight from the file), mmap (pointer into the mapping for stored, aligned records),
/// metadata (nothing). Deflated records, big-endian files and misaligned legacy storages are
/// copied (or refused with mmap_copy_refused under load_options::refuse_copy_in_mmap); legacy
/// storages are file byte ranges (storage_record::file_offset); legacy views point into their
/// root. Errors: io_read, zip_inflate_*, zip_crc_mismatch (with verify_crc), mmap_copy_refused.
result<void> place_storages(checkpoint_state& st, const load_options& opts);

/// Reverses the byte order of each element in place (complex types: each half separately).
void byteswap_elements(std::byte* p, std::uint64_t nbytes, dtype type) noexcept;

}  // namespace pthsafe::detail
