// The end-of-central-directory search (zip/directory.cpp find_eocd) finds its candidates 16
// positions at a time (io/find_bytes.hpp). This compares it with the rule written as the
// byte-by-byte loop it replaced, on tails full of signatures, truncated records and comments of
// every length; and the occurrence search itself with a plain loop.
#include <doctest/doctest.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <optional>
#include <random>
#include <set>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "support/pickle_builder.hpp"
#include "support/zip_builder.hpp"
#include "io/find_bytes.hpp"
#include "zip/directory.hpp"

using namespace pthsafe_test;
using pthsafe::errc;

namespace {

struct verdict {
  errc code;             // ok: a record was chosen
  std::uint64_t offset;  // the chosen record, or the error's offset
};

std::uint32_t u32_at(const bytes& f, std::uint64_t at) {
  std::uint32_t v = 0;
  std::memcpy(&v, f.data() + at, 4);
  return v;
}
std::uint16_t u16_at(const bytes& f, std::uint64_t at) {
  std::uint16_t v = 0;
  std::memcpy(&v, f.data() + at, 2);
  return v;
}

// The rule, one byte at a time (docs/zip.md): the last signature must be the record, its comment
// must end the file, and no earlier signature in the window may be a record a reader could take.
verdict reference(const bytes& f) {
  constexpr std::uint32_t sig = 0x06054b50;
  const std::uint64_t n = f.size();
  if (n < 22) return {errc::zip_no_eocd, 0};
  const std::uint64_t window = 22 + 0xffff + 4096;
  const std::uint64_t lowest = n > window ? n - window : 0;
  std::uint64_t last_sig = n, last_full = n, chosen = n;
  for (std::uint64_t at = n - 3; at-- > lowest;) {
    if (u32_at(f, at) != sig) continue;
    if (last_sig == n) last_sig = at;
    if (at + 22 > n) continue;
    if (last_full == n) last_full = at;
    if (at + 22 + u16_at(f, at + 20) == n) {
      chosen = at;
      break;
    }
  }
  if (chosen == n) return {last_full != n ? errc::zip_trailing_data : errc::zip_no_eocd, n};
  if (last_sig != chosen) return {errc::zip_eocd_in_comment, last_sig};
  for (std::uint64_t at = chosen; at-- > lowest;) {
    if (u32_at(f, at) != sig || at + 22 > n) continue;
    if (at + 22 + u16_at(f, at + 20) <= n) return {errc::zip_ambiguous_eocd, at};
  }
  return {errc::ok, chosen};
}

bool search_code(errc c) {
  return c == errc::zip_no_eocd || c == errc::zip_trailing_data || c == errc::zip_eocd_in_comment ||
         c == errc::zip_ambiguous_eocd;
}

void put_sig(bytes& f, std::uint64_t at, std::uint16_t comment) {
  const std::uint8_t rec[22] = {'P', 'K', 5, 6};
  for (std::size_t i = 0; i < 22 && at + i < f.size(); ++i) f[at + i] = static_cast<std::byte>(rec[i]);
  if (at + 22 <= f.size()) std::memcpy(f.data() + at + 20, &comment, 2);
}

}  // namespace

TEST_CASE("the memmem search decides every tail as the byte-by-byte rule does") {
  std::mt19937_64 rng(20261202);
  int decided = 0, chosen = 0;
  std::set<errc> seen;
  for (int round = 0; round < 3000; ++round) {
    CAPTURE(round);
    const std::size_t size = (round % 3 == 0) ? 22 + rng() % 200 : 22 + rng() % 90000;
    bytes f(size);
    for (auto& b : f) b = static_cast<std::byte>(rng() % 4 == 0 ? 'P' : rng() % 256);
    // Signatures: one whose comment ends the file (usually), others anywhere, some cut short.
    const int extra = static_cast<int>(rng() % 5);
    for (int i = 0; i < extra; ++i) {
      const std::uint64_t at = rng() % (size - 3);
      put_sig(f, at, static_cast<std::uint16_t>(rng() % 3 == 0 ? (size > at + 22 ? size - at - 22 : 0) : rng() % 70000));
    }
    if (rng() % 4 != 0) {
      const std::uint16_t comment = static_cast<std::uint16_t>(std::min<std::size_t>(rng() % 300, size - 22));
      put_sig(f, size - 22 - comment, comment);
    }
    const verdict want = reference(f);
    const auto got = pthsafe::detail::read_directory(std::span<const std::byte>(f.data(), f.size()), {});
    if (want.code != errc::ok) {
      REQUIRE(!got);
      CHECK(got.error_value().code == want.code);
      CHECK(got.error_value().offset == want.offset);
      ++decided;
      seen.insert(want.code);
    } else {
      // A record was chosen: whatever the directory parse says next, the search passed it.
      if (!got) CHECK_FALSE(search_code(got.error_value().code));
      ++chosen;
    }
  }
  CHECK(decided > 500);  // every search verdict is exercised, and so is a chosen record
  CHECK(chosen > 500);
  for (const errc c : {errc::zip_no_eocd, errc::zip_trailing_data, errc::zip_eocd_in_comment, errc::zip_ambiguous_eocd})
    CHECK(seen.count(c) == 1);
}

TEST_CASE("read_directory hands a visitor each entry it would list, in order, and stops at its error") {
  std::vector<storage_blob> blobs;
  for (int i = 0; i < 40; ++i) blobs.push_back({std::to_string(i), float32_ramp(static_cast<std::size_t>(i + 1))});
  std::vector<tensor_spec> specs;
  for (int i = 0; i < 40; ++i) {
    tensor_spec t;
    t.key = "t" + std::to_string(i);
    t.storage_key = std::to_string(i);
    t.shape = {i + 1};
    specs.push_back(t);
  }
  const bytes file = torch_checkpoint(state_dict_pickle(specs), blobs).build();
  const std::span<const std::byte> f(file.data(), file.size());
  const auto listed = pthsafe::detail::read_directory(f, {});
  REQUIRE(listed);
  std::vector<pthsafe::detail::zip_entry> seen;
  const pthsafe::detail::entry_visitor keep = [&](std::size_t i, const pthsafe::detail::zip_entry& e) -> pthsafe::result<void> {
    CHECK(i == seen.size());
    seen.push_back(e);
    return {};
  };
  const auto visited = pthsafe::detail::read_directory(f, {}, keep);
  REQUIRE(visited);
  CHECK(visited->entries.empty());
  CHECK(visited->cd_offset == listed->cd_offset);
  REQUIRE(seen.size() == listed->entries.size());
  for (std::size_t i = 0; i < seen.size(); ++i) {
    CAPTURE(i);
    CHECK(seen[i].name() == listed->entries[i].name());
    CHECK(seen[i].central_offset(f) == listed->entries[i].central_offset(f));
    CHECK(seen[i].local_offset == listed->entries[i].local_offset);
    CHECK(seen[i].crc == listed->entries[i].crc);
  }
  std::size_t calls = 0;
  const pthsafe::detail::entry_visitor stop = [&](std::size_t i, const pthsafe::detail::zip_entry&) -> pthsafe::result<void> {
    ++calls;
    if (i == 5) return pthsafe::make_error(errc::zip_parser_disagree, "stop here");
    return {};
  };
  const auto stopped = pthsafe::detail::read_directory(f, {}, stop);
  REQUIRE(!stopped);
  CHECK(stopped.error_value().code == errc::zip_parser_disagree);
  CHECK(calls == 6);
}

TEST_CASE("for_each_occurrence finds every start of a 4-byte pattern, as a plain loop does") {
  const std::array<unsigned char, 4> pat{'P', 'K', 5, 6};
  std::mt19937_64 rng(11);
  const auto plain = [&](const std::vector<unsigned char>& v) {
    std::vector<std::size_t> at;
    for (std::size_t i = 0; i + 4 <= v.size(); ++i)
      if (std::memcmp(v.data() + i, pat.data(), 4) == 0) at.push_back(i);
    return at;
  };
  for (int round = 0; round < 6000; ++round) {
    // Lengths around both block sizes (16 and, on AVX2 hosts, 32) and their tails, bytes drawn
    // from the pattern's own alphabet (so partial and overlapping matches are everywhere),
    // patterns planted at every alignment; both widths.
    std::vector<unsigned char> v(rng() % 160);
    const unsigned char alphabet[] = {'P', 'K', 5, 6, 0};
    for (auto& b : v) b = alphabet[rng() % 5];
    for (std::size_t k = 0; k < 3 && v.size() >= 4; ++k) std::memcpy(v.data() + rng() % (v.size() - 3), pat.data(), 4);
    for (const bool wide : {true, false}) {
      std::vector<std::size_t> found;
      pthsafe::detail::for_each_occurrence(std::as_bytes(std::span(v)), pat, [&](std::size_t at) { found.push_back(at); }, wide);
      CAPTURE(round);
      CAPTURE(wide);
      CHECK(found == plain(v));
    }
  }
  // A signature in the last 4 bytes, and one straddling the 16-byte blocks.
  std::vector<unsigned char> v(64, 0);
  std::memcpy(v.data() + 60, pat.data(), 4);
  std::memcpy(v.data() + 14, pat.data(), 4);
  std::vector<std::size_t> found;
  pthsafe::detail::for_each_occurrence(std::as_bytes(std::span(v)), pat, [&](std::size_t at) { found.push_back(at); });
  CHECK(found == std::vector<std::size_t>{14, 60});
}
