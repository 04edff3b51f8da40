// The security gate on arbitrary bytes: must never crash, hang or call anything.
#include <cstddef>
#include <cstdint>
#include <span>

#include "pthsafe/scan.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  pthsafe::load_options o;
  o.limits.max_tree_bytes = 64u << 20;
  (void)pthsafe::scan_buffer(std::span<const std::byte>(reinterpret_cast<const std::byte*>(data), size), o);
  return 0;
}
