// The helpers every check rests on: checked arithmetic, the bounded cursor, SHA-256 (against the
// published FIPS 180-2 examples) and the keyed hash's streaming consistency.
#include <doctest/doctest.h>

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "io/checked.hpp"
#include "io/cursor.hpp"
#include "util/ascii.hpp"
#include "util/keyed_hash.hpp"
#include "util/sha256.hpp"

using namespace pthsafe::detail;

TEST_CASE("checked_add and checked_mul refuse exactly the overflowing cases") {
  constexpr auto max64 = std::numeric_limits<std::uint64_t>::max();
  CHECK(checked_add<std::uint64_t>(max64 - 1, 1) == max64);
  CHECK_FALSE(checked_add<std::uint64_t>(max64, 1));
  CHECK(checked_mul<std::uint64_t>(std::uint64_t{1} << 31, std::uint64_t{1} << 32) == std::uint64_t{1} << 63);
  CHECK_FALSE(checked_mul<std::uint64_t>(std::uint64_t{1} << 32, std::uint64_t{1} << 32));
  CHECK(checked_mul<std::uint64_t>(0, max64) == 0u);
  constexpr auto max63 = std::numeric_limits<std::int64_t>::max();
  CHECK_FALSE(checked_add<std::int64_t>(max63, 1));
  CHECK_FALSE(checked_mul<std::int64_t>(-1, std::numeric_limits<std::int64_t>::min()));
  CHECK(checked_add<std::int64_t>(-5, 3) == -2);
}

TEST_CASE("range_fits never overflows") {
  constexpr auto max64 = std::numeric_limits<std::uint64_t>::max();
  CHECK(range_fits(0, 10, 10));
  CHECK_FALSE(range_fits(1, 10, 10));
  CHECK_FALSE(range_fits(max64, 2, 10));   // off + len wraps: still refused
  CHECK_FALSE(range_fits(2, max64, 10));
  CHECK(range_fits(10, 0, 10));            // an empty range at the end
  CHECK_FALSE(range_fits(11, 0, 10));
}

TEST_CASE("cursor reads little-endian fields and stops at the end without moving") {
  const std::vector<std::byte> b{std::byte{0x01}, std::byte{0x02}, std::byte{0x03}, std::byte{0x04}, std::byte{0x05}};
  cursor c(b);
  std::uint16_t v16 = 0;
  REQUIRE(c.u16(v16));
  CHECK(v16 == 0x0201);
  std::uint32_t v32 = 7;
  CHECK_FALSE(c.u32(v32));  // 3 bytes left
  CHECK(c.pos() == 2);      // a failed read consumes nothing
  CHECK_FALSE(c.skip(4));
  CHECK(c.skip(3));
  CHECK(c.remaining() == 0);
  std::string_view out;
  CHECK_FALSE(c.bytes(1, out));
  CHECK_FALSE(c.seek(6));
  CHECK(c.seek(5));
  cursor l(b, 0);
  CHECK_FALSE(l.line(out, 100));  // no '\n': a line never runs off the end
}

namespace {
std::string sha_hex(const std::string& s) {
  sha256 h;
  h.update(s.data(), s.size());
  return h.hex();
}
}  // namespace

TEST_CASE("SHA-256 matches the published examples") {
  CHECK(sha_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(sha_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(sha_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  // One million 'a', fed in uneven pieces (the block boundary handling).
  sha256 h;
  const std::string chunk(997, 'a');
  std::size_t left = 1000000;
  while (left) {
    const std::size_t n = std::min(left, chunk.size());
    h.update(chunk.data(), n);
    left -= n;
  }
  CHECK(h.hex() == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST_CASE("is_ascii: one byte of 0x80 or above at any position of any length") {
  using pthsafe::detail::is_ascii;
  for (std::size_t len = 0; len <= 40; ++len) {
    std::string s(len, 'a');
    CHECK(is_ascii(s));
    for (std::size_t at = 0; at < len; ++at)
      for (const int b : {0x7f, 0x80, 0xc3, 0xff}) {
        std::string t = s;
        t[at] = static_cast<char>(b);
        CAPTURE(len);
        CAPTURE(at);
        CHECK(is_ascii(t) == (b < 0x80));
      }
  }
}

TEST_CASE("keyed hash: streaming equals one-shot, tags separate domains") {
  const std::string s = "archive/data/0123456789abcdef-and-some-more-bytes";
  // Every length (each tail of 0-7 bytes after whole words), each cut in two streamed parts.
  for (std::size_t len = 0; len <= s.size(); ++len) {
    const std::string_view t = std::string_view(s).substr(0, len);
    for (std::size_t cut = 0; cut <= len; ++cut) {
      siphash13 h(3);
      h.add(t.substr(0, cut));
      h.add(t.substr(cut));
      CHECK(h.finish() == keyed_hash(t, 3));
    }
  }
  CHECK(keyed_hash(s, 1) != keyed_hash(s, 2));
  CHECK(keyed_hash("a") != keyed_hash("b"));
}
