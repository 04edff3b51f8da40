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
  // Stored records copied into fresh memory are read after this loop, in file order, a batch of
  // jobs at a time (several threads for large totals). Everything here is held at the load's
  // peak, beside the whole tree: a job per record at once (40 bytes each, plus a sort order and
  // a pair per record) was 7 MB of a 100,000-tensor copy load. Now 4 bytes a record: its index
  // among the storages (bench/NOTES.md 37).
  if (st.storages.size() >= UINT32_MAX) return make_error(errc::limit_exceeded, "more than 2^32 - 2 storages");
  // The copies go in directory order, which is file order for what torch writes (it files
  // records by key as text, "0", "1", "10", ..., so storage order jumps about the file): each
  // batch below then covers one stretch of the file, whose pages read_all hands back behind it.
  // They are put in that order as they are found, by entry: slot e holds 1 + the index of the
  // storage read from entry e (0: none), and one pass squeezes the empty slots out. A comparison
  // sort through the storage records was 18 % of a 100,000-tensor copy load (bench/NOTES.md 54).
  // Two storages can share a record (keys equal after miniz's case folding): the second goes to
  // `shared`, and the order then comes from a sort.
  std::vector<std::uint32_t> copies;
  std::vector<std::uint32_t> shared;
  std::uint64_t pool_bytes = 0;
  for (std::size_t i = 0; i < st.storages.size(); ++i) {
    storage_record& s = st.storages[i];
    if (s.alias || s.synthetic) continue;  // views are pointed below; synthetic bytes are owned
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
      if (copies.empty()) copies.assign(st.zip->entries().size(), 0);
      std::uint32_t& slot = copies[entry];
      if (slot == 0) slot = static_cast<std::uint32_t>(i + 1);
      else shared.push_back(static_cast<std::uint32_t>(i));
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
  std::size_t n_copies = 0;
  for (const std::uint32_t slot : copies)
    if (slot != 0) copies[n_copies++] = slot - 1;  // n_copies <= the slot read: in place
  copies.resize(n_copies);
  if (!shared.empty()) {
    copies.insert(copies.end(), shared.begin(), shared.end());
    std::stable_sort(copies.begin(), copies.end(),
                     [&](std::uint32_t a, std::uint32_t b) { return *st.storages[a].entry < *st.storages[b].entry; });
  }
  std::byte* pool = pool_bytes ? st.own(static_cast<std::size_t>(pool_bytes)) : nullptr;
  const std::byte* const base = st.src.bytes().data();
  constexpr std::size_t batch = 8192;
  std::vector<read_job> jobs;
  jobs.reserve(std::min(copies.size(), batch));
  for (std::size_t first = 0; first < copies.size(); first += batch) {
    const std::size_t last = std::min(copies.size(), first + batch);
    jobs.clear();
    for (std::size_t i = first; i < last; ++i) {
      storage_record& s = st.storages[copies[i]];
      std::byte* dst = nullptr;  // an empty storage keeps a null pointer, as an empty buffer has
      if (s.nbytes == 0) {
      } else if (s.nbytes <= pooled_max && pool) {
        dst = pool;
        pool += pooled_size(s.nbytes);
      } else {
        dst = st.own(static_cast<std::size_t>(s.nbytes));
      }
      const auto stored = st.zip->stored_bytes(*s.entry);  // stored: checked in the loop above
      jobs.push_back({static_cast<std::uint64_t>(stored->data() - base), dst, s.nbytes, s.record()});
      s.data = dst;
    }
    if (auto r = read_all(st.src, jobs); !r) return r;
    if (st.big_endian)
      for (std::size_t i = first; i < last; ++i)
        byteswap_elements(jobs[i - first].dst, jobs[i - first].nbytes, st.storages[copies[i]].type);
  }
  // Legacy view_metadata storages share their root's bytes (torch slices the root storage).
  for (auto& s : st.storages) {
    if (!s.alias || !s.alias->of->data) continue;
    s.data = s.alias->of->data + s.alias->offset;
    s.mapped = s.alias->of->mapped;
  }
  return {};
}

}  // namespace pthsafe::detail
