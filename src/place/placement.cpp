#include "place/placement.hpp"

#include <algorithm>
#include <cstdlib>
#include <new>
#include <vector>

#include "place/bulk_read.hpp"

namespace pthsafe::detail {

// Large buffers are anonymous mappings of their own (place/bulk_read.hpp).
aligned_buffer::aligned_buffer(std::size_t n) : n_(n) {
  if (n == 0) return;
  p_ = alloc_storage_bytes(n);
  if (!p_) throw std::bad_alloc();
}

aligned_buffer& aligned_buffer::operator=(aligned_buffer&& o) noexcept {
  if (this != &o) {
    free_storage_bytes(p_, n_);
    p_ = o.p_;
    n_ = o.n_;
    o.p_ = nullptr;
    o.n_ = 0;
  }
  return *this;
}

aligned_buffer::~aligned_buffer() { free_storage_bytes(p_, n_); }

void byteswap_elements(std::byte* p, std::uint64_t nbytes, dtype type) noexcept {
  std::size_t width = itemsize(type);
  if (is_complex(type)) width /= 2;
  if (width <= 1) return;
  for (std::uint64_t i = 0; i + width <= nbytes; i += width) std::reverse(p + i, p + i + width);
}

namespace {

// load_options::refuse_copy_in_mmap: the caller wants zero-copy or nothing.
error copy_refused(const storage_record& s, const char* why) {
  return make_error(errc::mmap_copy_refused, "storage '" + std::string(s.key) + "' cannot be mapped zero-copy (" + why + ")", std::string(s.record));
}

// Legacy format: the storage is a little-endian byte range of the file itself.
result<void> place_file_range(checkpoint_state& st, storage_record& s, std::uint64_t off, const load_options& opts) {
  const std::byte* at = st.src.bytes().data() + off;
  const bool aligned = reinterpret_cast<std::uintptr_t>(at) % std::max<std::size_t>(itemsize(s.type), 1) == 0;
  if (opts.mode == load_mode::mmap && aligned) {
    s.data = at;
    s.mapped = true;
    return {};
  }
  if (opts.mode == load_mode::mmap && opts.refuse_copy_in_mmap)
    return copy_refused(s, "legacy storage bytes not aligned for its element type");
  s.owned = aligned_buffer(static_cast<std::size_t>(s.nbytes));
  if (auto r = st.src.read_into(off, s.owned.data(), s.nbytes); !r) return r;
  s.data = s.owned.data();
  s.mapped = false;
  return {};
}

}  // namespace

result<void> place_storages(checkpoint_state& st, const load_options& opts) {
  if (opts.mode == load_mode::metadata) return {};
  // Stored records are read after the loop, all together (several threads for large totals).
  std::vector<read_job> jobs;
  std::vector<storage_record*> swap_after;
  for (auto& s : st.storages) {
    if (s.alias_of || s.synthetic) continue;  // views are pointed below; synthetic bytes are owned
    if (s.file_offset) {
      if (auto r = place_file_range(st, s, *s.file_offset, opts); !r) return r;
      continue;
    }
    if (!s.entry || !st.zip) continue;
    const std::size_t entry = *s.entry;
    if (opts.verify_crc)
      if (auto r = st.zip->verify_crc(entry, opts.limits); !r) return r;
    const auto stored = st.zip->stored_bytes(entry);
    const std::size_t item = itemsize(s.type);
    const bool aligned = stored && (reinterpret_cast<std::uintptr_t>(stored->data()) % std::max<std::size_t>(item, 1)) == 0;
    if (opts.mode == load_mode::mmap && stored && aligned && !st.big_endian) {
      s.data = stored->data();
      s.mapped = true;
      continue;
    }
    if (opts.mode == load_mode::mmap && opts.refuse_copy_in_mmap)
      return copy_refused(s, !stored ? "deflated record" : st.big_endian ? "big-endian file: elements are byte-swapped"
                                                                         : "record not aligned for its element type");
    s.owned = aligned_buffer(static_cast<std::size_t>(s.nbytes));
    if (stored) {
      const auto off = static_cast<std::uint64_t>(stored->data() - st.src.bytes().data());
      jobs.push_back({off, s.owned.data(), s.nbytes, s.record});
      if (st.big_endian) swap_after.push_back(&s);
    } else {
      if (auto r = st.zip->extract(entry, s.owned.data(), opts.limits); !r) return r;
      if (st.big_endian) byteswap_elements(s.owned.data(), s.nbytes, s.type);
    }
    s.data = s.owned.data();
    s.mapped = false;
  }
  if (auto r = read_all(st.src, jobs); !r) return r;
  for (storage_record* s : swap_after) byteswap_elements(s->owned.data(), s->nbytes, s->type);
  // Legacy view_metadata storages share their root's bytes (torch slices the root storage).
  for (auto& s : st.storages) {
    if (!s.alias_of || !s.alias_of->data) continue;
    s.data = s.alias_of->data + s.alias_offset;
    s.mapped = s.alias_of->mapped;
  }
  return {};
}

}  // namespace pthsafe::detail
