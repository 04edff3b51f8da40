#include "write/tensor_bytes.hpp"

#include <algorithm>
#include <climits>
#include <cstring>
#include <string>

#include "io/checked.hpp"

namespace pthsafe::detail {
namespace {

error bad(const std::string& what) { return make_error(errc::save_bad_tensor, what); }

}  // namespace

result<tensor_extent> measure(const save_tensor& t) {
  tensor_extent e;
  const std::size_t item = itemsize(t.type);
  if (t.storage.size() % item != 0) {
    return bad("a storage of " + std::to_string(t.storage.size()) + " bytes is not a whole number of " +
               std::string(dtype_name(t.type)) + " elements");
  }
  e.storage_numel = t.storage.size() / item;
  const std::size_t ndim = t.shape.size();
  for (const auto d : t.shape) {
    if (d < 0) return bad("a negative size");
  }
  if (!t.stride.empty() && t.stride.size() != ndim) return bad("stride and shape differ in length");
  if (t.storage_offset < 0) return bad("a negative storage offset");
  e.strides = t.stride;
  if (e.strides.empty()) {
    e.strides.assign(ndim, 0);
    std::uint64_t s = 1;
    for (std::size_t i = ndim; i-- > 0;) {
      e.strides[i] = static_cast<std::int64_t>(s);
      const auto next = checked_mul<std::uint64_t>(s, std::max<std::uint64_t>(1, static_cast<std::uint64_t>(t.shape[i])));
      if (!next || *next > static_cast<std::uint64_t>(INT64_MAX)) return bad("a shape whose size overflows");
      s = *next;
    }
  }
  std::uint64_t numel = 1, last = static_cast<std::uint64_t>(t.storage_offset);
  for (std::size_t i = 0; i < ndim; ++i) {
    if (e.strides[i] < 0) return bad("a negative stride");
    const auto m = checked_mul<std::uint64_t>(numel, static_cast<std::uint64_t>(t.shape[i]));
    if (!m || *m > static_cast<std::uint64_t>(INT64_MAX)) return bad("a tensor whose element count overflows");
    numel = *m;
    if (t.shape[i] > 0) {
      const auto reach = checked_mul<std::uint64_t>(static_cast<std::uint64_t>(t.shape[i] - 1), static_cast<std::uint64_t>(e.strides[i]));
      const auto sum = reach ? checked_add<std::uint64_t>(last, *reach) : std::nullopt;
      if (!sum) return bad("a tensor whose geometry overflows");
      last = *sum;
    }
  }
  e.numel = numel;
  if (numel == 0) return e;  // reaches no element: torch accepts any offset
  if (last >= e.storage_numel) {
    return bad("a tensor reaches element " + std::to_string(last) + " of a storage of " + std::to_string(e.storage_numel) +
               " elements");
  }
  e.first_byte = static_cast<std::uint64_t>(t.storage_offset) * item;
  e.end_byte = (last + 1) * item;
  // Contiguous: the strides of the shape in C order (size-1 dimensions may have any stride).
  std::uint64_t expect = 1;
  e.contiguous = true;
  for (std::size_t i = ndim; i-- > 0;) {
    if (t.shape[i] != 1 && static_cast<std::uint64_t>(e.strides[i]) != expect) e.contiguous = false;
    expect *= static_cast<std::uint64_t>(t.shape[i]);
  }
  return e;
}

result<void> write_elements(const save_tensor& t, const tensor_extent& e, const byte_sink_fn& sink,
                            const std::function<void(std::span<const std::byte>)>& consumed) {
  const std::size_t item = itemsize(t.type);
  const auto refused = [] { return make_error(errc::io_write, "the output refused a write"); };
  if (e.numel == 0) return {};
  if (e.contiguous) {
    const auto all = t.storage.subspan(e.first_byte, e.numel * item);
    for (std::size_t done = 0; done < all.size();) {
      const auto piece = all.subspan(done, std::min<std::size_t>(all.size() - done, std::size_t{64} << 20));
      if (!sink(piece)) return refused();
      if (consumed) consumed(piece);
      done += piece.size();
    }
    return {};
  }
  // Odometer over the index space, innermost dimension fastest; elements copied into a 1 MiB
  // buffer flushed to the sink.
  const std::size_t ndim = t.shape.size();
  std::vector<std::int64_t> index(ndim, 0);
  std::vector<std::byte> buf;
  const std::size_t cap = std::max<std::size_t>(item, (std::size_t{1} << 20) / item * item);
  buf.reserve(cap);
  std::uint64_t at = static_cast<std::uint64_t>(t.storage_offset);
  for (std::uint64_t n = 0; n < e.numel; ++n) {
    const std::byte* src = t.storage.data() + at * item;
    buf.insert(buf.end(), src, src + item);
    if (buf.size() >= cap) {
      if (!sink(buf)) return refused();
      buf.clear();
    }
    for (std::size_t d = ndim; d-- > 0;) {
      if (++index[d] < t.shape[d]) {
        at += static_cast<std::uint64_t>(e.strides[d]);
        break;
      }
      at -= static_cast<std::uint64_t>(e.strides[d]) * static_cast<std::uint64_t>(t.shape[d] - 1);
      index[d] = 0;
    }
  }
  if (!buf.empty() && !sink(buf)) return refused();
  return {};
}

}  // namespace pthsafe::detail
