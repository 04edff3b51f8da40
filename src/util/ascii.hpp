// Whether bytes are all ASCII (below 0x80): zip names decide how CPython's zipfile decodes them,
// and every name of a 100,000-record directory is asked.
#pragma once

#include <cstdint>
#include <cstring>
#include <string_view>

namespace pthsafe::detail {

inline bool is_ascii(std::string_view s) noexcept {
  // Eight bytes a step: the top bits of every byte, or-ed together.
  std::uint64_t high = 0;
  std::size_t i = 0;
  for (; s.size() - i >= 8; i += 8) {
    std::uint64_t w = 0;
    std::memcpy(&w, s.data() + i, 8);
    high |= w;
  }
  for (; i < s.size(); ++i) high |= static_cast<unsigned char>(s[i]);
  return (high & 0x8080808080808080ULL) == 0;
}

}  // namespace pthsafe::detail
