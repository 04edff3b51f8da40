#include "place/placement.hpp"

#include <algorithm>
#include <cstdlib>
#include <new>
#include <vector>

#include "io/checked.hpp"
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
  return make_error(errc::mmap_copy_refused, "storage '" + std::string(s.key) + "' cannot be mapped zero-copy (" + why + ")", std::string(s.record()));
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
  std::byte* dst = st.own(static_cast<std::size_t>(s.nbytes));
  if (auto r = st.src.read_into(off, dst, s.nbytes); !r) return r;
  s.data = dst;
  s.mapped = false;
  return {};
}

// Copied storages up to this size share one pool buffer (each at aligned_buffer::alignment): a
// state_dict of 100,000 small tensors then makes and frees one buffer, not 100,000.
constexpr std::uint64_t pooled_max = std::uint64_t{64} << 10;
std::uint64_t pooled_size(std::uint64_t n) {
  return (n + aligned_buffer::alignment - 1) / aligned_buffer::alignment * aligned_buffer::alignment;
}

}  // namespace

result<void> place_storages(checkpoint_state& st, const load_options& opts) {
  if (opts.mode == load_mode::metadata) return {};
  // Stored records are read after the loop, all together (several threads for large totals).
  std::vector<read_job> jobs;
  std::vector<std::pair<storage_record*, std::uint64_t>> stored_copies;  // (storage, file offset)
  std::uint64_t pool_bytes = 0;
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
    s.mapped = false;
    if (stored) {
      stored_copies.emplace_back(&s, static_cast<std::uint64_t>(stored->data() - st.src.bytes().data()));
      if (s.nbytes <= pooled_max) {
        // Distinct storages are distinct records of the file: the sum stays below its size plus
        // the alignment padding; checked all the same.
        const auto sum = checked_add(pool_bytes, pooled_size(s.nbytes));
        if (!sum) return make_error(errc::limit_exceeded, "copied storages exceed the address space", std::string(s.record()));
        pool_bytes = *sum;
      }
    } else {
      std::byte* dst = st.own(static_cast<std::size_t>(s.nbytes));
      if (auto r = st.zip->extract(entry, dst, opts.limits); !r) return r;
      if (st.big_endian) byteswap_elements(dst, s.nbytes, s.type);
      s.data = dst;
    }
  }
  std::byte* pool = pool_bytes ? st.own(static_cast<std::size_t>(pool_bytes)) : nullptr;
  jobs.reserve(stored_copies.size());
  for (const auto& [s, off] : stored_copies) {
    std::byte* dst = nullptr;  // an empty storage keeps a null pointer, as an empty buffer has
    if (s->nbytes == 0) {
    } else if (s->nbytes <= pooled_max && pool) {
      dst = pool;
      pool += pooled_size(s->nbytes);
    } else {
      dst = st.own(static_cast<std::size_t>(s->nbytes));
    }
    jobs.push_back({off, dst, s->nbytes, s->record()});
    s->data = dst;
  }
  if (auto r = read_all(st.src, jobs); !r) return r;
  if (st.big_endian)
    for (const read_job& j : jobs) {
      const auto& [s, off] = stored_copies[static_cast<std::size_t>(&j - jobs.data())];
      byteswap_elements(j.dst, j.nbytes, s->type);
    }
  // Legacy view_metadata storages share their root's bytes (torch slices the root storage).
  for (auto& s : st.storages) {
    if (!s.alias_of || !s.alias_of->data) continue;
    s.data = s.alias_of->data + s.alias_offset;
    s.mapped = s.alias_of->mapped;
  }
  return {};
}

}  // namespace pthsafe::detail
