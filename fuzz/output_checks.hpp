// Output invariants every harness asserts (policy "Output", util/escape.hpp): a JSON document is
// valid UTF-8 with no raw control character or surrogate; a text line holds no control
// character, bidirectional control or byte that is not UTF-8. A violation traps, so the fuzzer
// reports the input that produced it.
#pragma once

#include <string_view>

#include "util/escape.hpp"

namespace pthsafe::fuzz {

inline void check_printable(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    const auto u = detail::next_utf8(s, i);
    if (!u.valid || detail::escaped_code_point(u.cp)) __builtin_trap();
    i += u.len;
  }
}

inline void check_json(std::string_view doc) { check_printable(doc); }
inline void check_text(std::string_view line) { check_printable(line); }
/// Several text lines, each ending in '\n'.
inline void check_lines(std::string_view text) {
  for (std::size_t a = 0; a < text.size();) {
    std::size_t b = text.find('\n', a);
    if (b == std::string_view::npos) b = text.size();
    check_text(text.substr(a, b - a));
    a = b + 1;
  }
}

}  // namespace pthsafe::fuzz
