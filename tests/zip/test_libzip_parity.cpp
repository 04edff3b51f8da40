// archive::open without libzip (zip_check::strict_when_stored, what a load uses) decides every
// archive as archive::open with libzip does (docs/zip.md): same entries or the same error code.
// Each case below is one row of docs/zip.md's table: a plain archive decided without libzip, a
// non-plain one handed to libzip, or one of the two refusals that stand in for libzip's.
#include <doctest/doctest.h>

#include <optional>
#include <string>

#include "pthsafe/pthsafe.hpp"
#include "support/pickle_builder.hpp"
#include "scan/gate.hpp"
#include "zip/archive.hpp"

using namespace pthsafe_test;
using pthsafe::errc;
using pthsafe::detail::archive;
using pthsafe::detail::zip_check;

namespace {

zip_builder plain_checkpoint() {
  tensor_spec t;
  t.key = std::string(1, 'w');  // not = "w": GCC 12's -Wrestrict false positive on the inlined assign
  t.shape = {2, 3};
  t.storage_numel = 6;
  return torch_checkpoint(state_dict_pickle({t}), {{"0", float32_ramp(6)}});
}

struct verdict {
  std::optional<errc> refused;  // the common error code, when both refuse
  bool libzip_opened = false;   // by the load's check, when both accept
  // Whether the gate's later libzip check (an all-stored archive both accept) opened libzip with
  // ZIP_CHECKCONS; nullopt when there was no later check.
  std::optional<bool> later_checkcons;
};

// The gate checks an all-stored archive with libzip after its load (zip_check::libzip_after_load
// + archive::libzip_agrees): the same verdict and code as libzip at open, and the same report.
std::optional<bool> same_with_libzip_later(const bytes& file, const pthsafe::result<std::unique_ptr<archive>>& with) {
  const auto later = archive::open(file, pthsafe::limits{}, zip_check::libzip_after_load);
  std::optional<errc> later_refused;
  std::optional<bool> checkcons;
  if (!later) {
    later_refused = later.error_value().code;
  } else if ((*later)->libzip_deferred()) {
    auto agreed = archive::libzip_agrees(file, pthsafe::limits{});
    if (!agreed) later_refused = agreed.error_value().code;
    else checkcons = *agreed;
  }
  REQUIRE(static_cast<bool>(with) == !later_refused);
  if (!with) CHECK(with.error_value().code == *later_refused);
  const auto first = pthsafe::detail::scan_source(pthsafe::detail::source::from_buffer(file), {}, zip_check::libzip_always);
  const auto now = pthsafe::scan_buffer(file);
  CHECK(first.verdict == now.verdict);
  REQUIRE(first.findings.size() == now.findings.size());
  for (std::size_t i = 0; i < now.findings.size(); ++i) {
    CHECK(first.findings[i].rule == now.findings[i].rule);
    CHECK(first.findings[i].record == now.findings[i].record);
    CHECK(first.findings[i].offset == now.findings[i].offset);
    CHECK(first.findings[i].message == now.findings[i].message);
  }
  return checkcons;
}

// Opens `file` both ways; the verdicts must agree (entries included), whatever they are.
verdict both_ways(const bytes& file) {
  const auto with = archive::open(file, pthsafe::limits{}, zip_check::libzip_always);
  const auto without = archive::open(file, pthsafe::limits{}, zip_check::strict_when_stored);
  const auto later_checkcons = same_with_libzip_later(file, with);
  REQUIRE(static_cast<bool>(with) == static_cast<bool>(without));
  if (!with) {
    CHECK(with.error_value().code == without.error_value().code);
    return {with.error_value().code, false, std::nullopt};
  }
  CHECK((*with)->libzip_opened());
  const auto& a = (*with)->entries();
  const auto& b = (*without)->entries();
  REQUIRE(a.size() == b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    CHECK(a[i].name() == b[i].name());
    CHECK(a[i].data_offset() == b[i].data_offset());
    CHECK(a[i].comp_size == b[i].comp_size);
  }
  // The gate skips ZIP_CHECKCONS exactly where the load may skip libzip: on plain archives.
  if (later_checkcons) CHECK(*later_checkcons == (*without)->libzip_opened());
  return {std::nullopt, (*without)->libzip_opened(), later_checkcons};
}

void put_u16_at(bytes& b, std::uint64_t at, std::uint16_t v) {
  b[at] = static_cast<std::byte>(v & 0xff);
  b[at + 1] = static_cast<std::byte>(v >> 8);
}

// Offsets of entry i's headers, from the strict walk of an unpatched copy.
pthsafe::detail::zip_entry entry_of(const bytes& file, std::size_t i) {
  auto a = archive::open(file, pthsafe::limits{});
  REQUIRE(a);
  return (*a)->entries()[i];
}

}  // namespace

TEST_CASE("a torch-style all-stored archive is decided without libzip") {
  const auto v = both_ways(plain_checkpoint().build());
  CHECK(!v.refused);
  CHECK(!v.libzip_opened);
  // The gate still opens libzip on it, without ZIP_CHECKCONS.
  REQUIRE(v.later_checkcons);
  CHECK(!*v.later_checkcons);
}

TEST_CASE("a plain archive without zip64 end records or descriptors is decided without libzip") {
  auto z = plain_checkpoint();
  z.layout.torch_style = false;
  z.layout.zip64_end = false;
  const auto v = both_ways(z.build());
  CHECK(!v.refused);
  CHECK(!v.libzip_opened);
}

TEST_CASE("archives outside the plain set are handed to libzip") {
  SUBCASE("a deflated record") {
    auto z = plain_checkpoint();
    z.add_deflated("archive/extra/notes", to_bytes(std::string(300, 'x')));
    const auto v = both_ways(z.build());
    CHECK(!v.refused);
    CHECK(v.libzip_opened);
  }
  SUBCASE("a non-ASCII name (libzip guesses its encoding)") {
    auto z = plain_checkpoint();
    z.add("archive/extra/caf\xc3\xa9", "x");
    const auto v = both_ways(z.build());
    CHECK(!v.refused);
    CHECK(v.libzip_opened);
    // All stored: the gate's later libzip check keeps ZIP_CHECKCONS.
    REQUIRE(v.later_checkcons);
    CHECK(*v.later_checkcons);
  }
  SUBCASE("a Unicode path extra field (libzip may replace the name)") {
    auto z = plain_checkpoint();
    z.records[1].central_extra = to_bytes(std::string("\x75\x70\x05\x00\x01\x00\x00\x00\x00", 9));
    const auto v = both_ways(z.build());
    CHECK(!v.refused);
    CHECK(v.libzip_opened);
  }
  SUBCASE("an archive comment") {
    auto z = plain_checkpoint();
    z.layout.comment = to_bytes("made by hand");
    const auto v = both_ways(z.build());
    CHECK(!v.refused);
    CHECK(v.libzip_opened);
  }
  SUBCASE("zip64 sizes and offset in the central directory") {
    auto z = plain_checkpoint();
    z.records[2].zip64_extra = true;
    const auto v = both_ways(z.build());
    CHECK(!v.refused);
    CHECK(!v.libzip_opened);  // exactly the 24 bytes the three sentinels need: plain
  }
  SUBCASE("local and central modification times differ (libzip compares them after mktime)") {
    bytes file = plain_checkpoint().build();
    put_u16_at(file, entry_of(file, 1).local_offset + 10, 0x0021);  // 00:01:02 instead of 00:00:00
    const auto v = both_ways(file);
    REQUIRE(v.refused);
    CHECK(*v.refused == errc::zip_libzip_rejected);
  }
}

TEST_CASE("libzip's refusals are made without it, with its code") {
  SUBCASE("a local extra field that overruns its header") {
    auto z = plain_checkpoint();
    z.records[1].local_extra = to_bytes(std::string("\x01\x00\xff\x00", 4));
    const auto v = both_ways(z.build());
    REQUIRE(v.refused);
    CHECK(*v.refused == errc::zip_libzip_rejected);
  }
  SUBCASE("trailing local extra bytes that are not zero") {
    auto z = plain_checkpoint();
    z.layout.alignment = 0;
    z.records[1].local_extra = to_bytes(std::string("\x00\x01", 2));
    const auto v = both_ways(z.build());
    REQUIRE(v.refused);
    CHECK(*v.refused == errc::zip_libzip_rejected);
  }
  SUBCASE("trailing zero bytes (APK padding) are accepted, as libzip accepts them") {
    auto z = plain_checkpoint();
    z.layout.alignment = 0;
    z.records[1].local_extra = to_bytes(std::string("\x00\x00", 2));
    const auto v = both_ways(z.build());
    CHECK(!v.refused);
    CHECK(!v.libzip_opened);
  }
  SUBCASE("a local header that needs a newer version than its central entry") {
    bytes file = plain_checkpoint().build();
    put_u16_at(file, entry_of(file, 1).local_offset + 4, 63);
    const auto v = both_ways(file);
    REQUIRE(v.refused);
    CHECK(*v.refused == errc::zip_libzip_rejected);
  }
}

TEST_CASE("a load of a plain archive reads the same tensors as before") {
  const bytes file = plain_checkpoint().build();
  auto ck = pthsafe::checkpoint::open_buffer(file, {});
  REQUIRE(ck);
  REQUIRE(ck->tensor_count() == 1);
  const auto t = ck->tensor(0);
  REQUIRE(t.shape().size() == 2);
  CHECK(t.shape()[0] == 2);
  CHECK(t.shape()[1] == 3);
}
