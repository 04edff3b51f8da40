// The geometry of a tensor to write, checked once, and its elements in C order.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "pthsafe/error.hpp"
#include "pthsafe/save.hpp"

namespace pthsafe::detail {

using byte_sink_fn = std::function<bool(std::span<const std::byte>)>;

struct tensor_extent {
  std::uint64_t numel = 0;
  std::vector<std::int64_t> strides;  // as given, or contiguous for the shape when none were
  std::uint64_t storage_numel = 0;    // whole elements in the storage
  std::uint64_t first_byte = 0;       // bytes of the storage the elements reach: [first, end)
  std::uint64_t end_byte = 0;
  bool contiguous = false;            // C order without gaps: one span of the storage
};

/// Checks that every element the geometry reaches lies inside the storage (torch's own check
/// on load), with overflow-checked arithmetic. Errors: save_bad_tensor.
result<tensor_extent> measure(const save_tensor& t);

/// Sends the elements in C order: pieces of at most 64 MiB when contiguous (each passed to
/// `consumed` once written, when set), else gathered through a bounded buffer. Errors: io_write
/// when the sink refuses.
result<void> write_elements(const save_tensor& t, const tensor_extent& e, const byte_sink_fn& sink,
                            const std::function<void(std::span<const std::byte>)>& consumed = {});

}  // namespace pthsafe::detail
