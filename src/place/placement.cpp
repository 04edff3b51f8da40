#include "place/placement.hpp"

#include <algorithm>
#include <cstdlib>
#include <new>

namespace pthsafe::detail {

aligned_buffer::aligned_buffer(std::size_t n) : n_(n) {
  if (n == 0) return;
  const std::size_t rounded = (n + alignment - 1) / alignment * alignment;
  p_ = static_cast<std::byte*>(std::aligned_alloc(alignment, rounded));
  if (!p_) throw std::bad_alloc();
}

aligned_buffer& aligned_buffer::operator=(aligned_buffer&& o) noexcept {
  if (this != &o) {
    std::free(p_);
    p_ = o.p_;
    n_ = o.n_;
    o.p_ = nullptr;
    o.n_ = 0;
  }
  return *this;
}

aligned_buffer::~aligned_buffer() { std::free(p_); }

void byteswap_elements(std::byte* p, std::uint64_t nbytes, dtype type) noexcept {
  std::size_t width = itemsize(type);
  if (is_complex(type)) width /= 2;
  if (width <= 1) return;
  for (std::uint64_t i = 0; i + width <= nbytes; i += width) std::reverse(p + i, p + i + width);
}

result<void> place_storages(checkpoint_state& st, const load_options& opts) {
  if (opts.mode == load_mode::metadata || !st.zip) return {};
  for (auto& s : st.storages) {
    if (!s.entry) continue;
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
    s.owned = aligned_buffer(static_cast<std::size_t>(s.nbytes));
    if (stored) {
      const auto off = static_cast<std::uint64_t>(stored->data() - st.src.bytes().data());
      if (auto r = st.src.read_into(off, s.owned.data(), s.nbytes); !r) {
        error e = std::move(r).error_value();
        e.record = s.record;
        return e;
      }
    } else if (auto r = st.zip->extract(entry, s.owned.data(), opts.limits); !r) {
      return r;
    }
    if (st.big_endian) byteswap_elements(s.owned.data(), s.nbytes, s.type);
    s.data = s.owned.data();
    s.mapped = false;
  }
  return {};
}

}  // namespace pthsafe::detail
