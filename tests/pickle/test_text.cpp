// pickle/text.hpp: UTF-8 validation as CPython decodes pickle strings (strict, or
// "surrogatepass" for the text opcodes that allow lone surrogates).
#include <doctest/doctest.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "pickle/text.hpp"

namespace {
// Independent reference: the well-formed byte sequences of the Unicode standard (table 3-7),
// with lone surrogates (ED A0..BF xx) also allowed under surrogatepass.
bool utf8_reference(std::string_view s, bool surrogatepass) {
  struct row {
    unsigned char lead_lo, lead_hi, second_lo, second_hi;
    int tail;  // continuation bytes after the second, each 80..BF
  };
  const row rows[] = {{0xc2, 0xdf, 0x80, 0xbf, 0}, {0xe0, 0xe0, 0xa0, 0xbf, 1}, {0xe1, 0xec, 0x80, 0xbf, 1},
                      {0xed, 0xed, 0x80, static_cast<unsigned char>(surrogatepass ? 0xbf : 0x9f), 1},
                      {0xee, 0xef, 0x80, 0xbf, 1}, {0xf0, 0xf0, 0x90, 0xbf, 2}, {0xf1, 0xf3, 0x80, 0xbf, 2},
                      {0xf4, 0xf4, 0x80, 0x8f, 2}};
  std::size_t i = 0;
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  while (i < s.size()) {
    if (byte(i) < 0x80) { ++i; continue; }
    const row* r = nullptr;
    for (const row& x : rows)
      if (byte(i) >= x.lead_lo && byte(i) <= x.lead_hi) r = &x;
    if (!r || i + 1 >= s.size() || byte(i + 1) < r->second_lo || byte(i + 1) > r->second_hi) return false;
    i += 2;
    for (int t = 0; t < r->tail; ++t, ++i)
      if (i >= s.size() || byte(i) < 0x80 || byte(i) > 0xbf) return false;
  }
  return true;
}
}  // namespace

TEST_CASE("valid_utf8: the ASCII fast path decides as the byte-at-a-time rule, at every position") {
  const std::vector<std::string> pieces = {"\xe2\x82\xac", "\xe2\x82", "\xc3", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\x80", "\xff",
                                           "\xf0\x9f\x98\x80", "\xc2\xa9"};
  std::uint64_t seed = 12345;
  const auto next = [&] { seed = seed * 6364136223846793005ULL + 1442695040888963407ULL; return seed >> 33; };
  int invalid = 0;
  for (int round = 0; round < 20000; ++round) {
    std::string s(next() % 40, 'a');
    const auto inserts = next() % 3;
    for (std::uint64_t k = 0; k < inserts; ++k) s.insert(s.empty() ? 0 : next() % (s.size() + 1), pieces[next() % pieces.size()]);
    for (const bool pass : {false, true}) {
      CAPTURE(s);
      const bool want = utf8_reference(s, pass);
      CHECK(pthsafe::detail::valid_utf8(s, pass) == want);
      invalid += !want;
    }
  }
  CHECK(invalid > 1000);  // both verdicts reached
}
