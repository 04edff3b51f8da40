// The zip layer alone: directory walk, local headers, libzip cross-check, record extraction.
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "zip/archive.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  pthsafe::limits lim;
  lim.max_inflated_bytes = 1u << 24;
  auto a = pthsafe::detail::archive::open(std::span<const std::byte>(reinterpret_cast<const std::byte*>(data), size), lim);
  if (!a) return 0;
  std::vector<std::byte> buf;
  for (std::size_t i = 0; i < (*a)->entries().size() && i < 64; ++i) {
    const auto& e = (*a)->entries()[i];
    if (e.uncomp_size > lim.max_inflated_bytes) continue;
    buf.resize(static_cast<std::size_t>(e.uncomp_size));
    (void)(*a)->extract(i, buf.data(), lim);
    (void)(*a)->verify_crc(i, lim);
  }
  return 0;
}
