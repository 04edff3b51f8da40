// libzip compares each entry's local and central modification times after mktime in the
// process's time zone; for a clock time the zone repeats or skips, glibc's answer depends on its
// previous call. pthsafe's verdict must not: a plain archive is decided by the strict walk (and
// libzip opens it without ZIP_CHECKCONS), any other archive with such a time is refused with
// libzip's code (docs/zip.md, bench/NOTES.md 44).
#include <doctest/doctest.h>
#include <zip.h>

#include <cstdlib>
#include <ctime>
#include <optional>
#include <string>

#include "pthsafe/pthsafe.hpp"
#include "support/pickle_builder.hpp"
#include "zip/archive.hpp"
#include "zip/dos_time.hpp"

using namespace pthsafe_test;
using pthsafe::errc;
using pthsafe::detail::archive;
using pthsafe::detail::dos_stamp;
using pthsafe::detail::stable_clock_times;
using pthsafe::detail::zip_check;

namespace {

// TZ for one test, restored after it (other tests read times in the zone the process had).
class zone {
 public:
  explicit zone(const char* tz) {
    if (const char* old = std::getenv("TZ")) old_ = old;
    ::setenv("TZ", tz, 1);
    ::tzset();
  }
  ~zone() {
    if (old_) ::setenv("TZ", old_->c_str(), 1);
    else ::unsetenv("TZ");
    ::tzset();
  }
  zone(const zone&) = delete;
  zone& operator=(const zone&) = delete;

 private:
  std::optional<std::string> old_;
};

constexpr dos_stamp stamp(int y, int mo, int d, int h, int mi) {
  return {static_cast<std::uint16_t>((h << 11) | (mi << 5)), static_cast<std::uint16_t>(((y - 1980) << 9) | (mo << 5) | d)};
}
constexpr dos_stamp repeated = stamp(2023, 10, 29, 2, 30);  // Europe/Berlin: 02:00-03:00 twice
constexpr dos_stamp skipped = stamp(2023, 3, 26, 2, 30);    // Europe/Berlin: never
constexpr dos_stamp july = stamp(2023, 7, 1, 12, 0);
constexpr dos_stamp january = stamp(2023, 1, 15, 12, 0);

// What libzip's mktime last answered is what it guesses next: leave it at summer or winter time.
void mktime_last_saw(dos_stamp s) {
  std::tm tm{};
  tm.tm_isdst = -1;
  tm.tm_year = ((s.date >> 9) & 127) + 80;
  tm.tm_mon = ((s.date >> 5) & 15) - 1;
  tm.tm_mday = s.date & 31;
  tm.tm_hour = (s.time >> 11) & 31;
  tm.tm_min = (s.time >> 5) & 63;
  (void)std::mktime(&tm);
}

void put_u16_at(bytes& b, std::uint64_t at, std::uint16_t v) {
  b[at] = static_cast<std::byte>(v & 0xff);
  b[at + 1] = static_cast<std::byte>(v >> 8);
}

// Every entry stamped `first` in both headers, the last one `last`.
bytes stamped(zip_builder z, dos_stamp first, dos_stamp last) {
  bytes file = z.build();
  auto a = archive::open(file, pthsafe::limits{});
  REQUIRE(a);
  const auto ents = (*a)->entries();
  for (std::size_t i = 0; i < ents.size(); ++i) {
    const dos_stamp s = i + 1 == ents.size() ? last : first;
    for (const std::uint64_t at : {ents[i].central_offset(file) + 12, ents[i].local_offset + 10}) {
      put_u16_at(file, at, s.time);
      put_u16_at(file, at + 2, s.date);
    }
  }
  return file;
}

zip_builder checkpoint(bool with_deflated) {
  tensor_spec t;
  t.key = std::string(1, 'w');
  t.shape = {4};
  t.storage_numel = 4;
  auto z = torch_checkpoint(state_dict_pickle({t}), {{"0", float32_ramp(4)}});
  if (with_deflated) z.add_deflated("archive/extra/notes", to_bytes(std::string(300, 'x')));
  return z;
}

bool libzip_checkcons_opens(const bytes& file) {
  zip_error_t err;
  zip_error_init(&err);
  zip_source_t* src = zip_source_buffer_create(file.data(), file.size(), 0, &err);
  REQUIRE(src);
  zip_t* z = zip_open_from_source(src, ZIP_RDONLY | ZIP_CHECKCONS, &err);
  zip_error_fini(&err);
  if (!z) {
    zip_source_free(src);
    return false;
  }
  zip_discard(z);
  return true;
}

}  // namespace

TEST_CASE("clock times a zone repeats or skips are told apart from the rest") {
  {
    zone berlin("Europe/Berlin");
    stable_clock_times t;
    CHECK(!t.stable(repeated));
    CHECK(!t.stable(skipped));
    CHECK(t.stable(july));
    CHECK(t.stable(january));
    CHECK(t.stable(stamp(2023, 10, 29, 1, 59)));
    CHECK(t.stable(stamp(2023, 10, 29, 3, 0)));
    CHECK(t.stable(dos_stamp{0, 0}));  // torch's stamp: 1980-00-00, i.e. 1979-11-30 00:00
    // Out-of-range fields are normalised as mktime does: hour 26 of 28 October is 02:00 on the 29th.
    CHECK(!t.stable(stamp(2023, 10, 28, 26, 30)));
    CHECK(!t.stable(repeated));  // the remembered answer is the same answer
    // mktime looks up seconds 60 and 62 as 59: 02:59:60 is in the repeated hour, 01:59:60
    // (looked up as 01:59:59) is not.
    CHECK(!t.stable(dos_stamp{static_cast<std::uint16_t>(stamp(2023, 10, 29, 2, 59).time | 30), repeated.date}));
    CHECK(!t.stable(dos_stamp{static_cast<std::uint16_t>(stamp(2023, 10, 29, 2, 59).time | 31), repeated.date}));
    CHECK(t.stable(dos_stamp{static_cast<std::uint16_t>(stamp(2023, 10, 29, 1, 59).time | 30), repeated.date}));
  }
  {
    zone ny("America/New_York");
    stable_clock_times t;
    CHECK(!t.stable(stamp(2023, 11, 5, 1, 30)));
    CHECK(t.stable(repeated));
  }
  {
    zone utc("UTC");
    stable_clock_times t;
    CHECK(t.stable(repeated));
    CHECK(t.stable(skipped));
    CHECK(t.stable(stamp(2107, 15, 31, 31, 63)));  // the largest fields a stamp can hold
  }
}

TEST_CASE("libzip's own verdict on such an archive depends on its previous mktime") {
  // The hazard itself, so that this file fails if a libzip or glibc update removes it.
  zone berlin("Europe/Berlin");
  const bytes file = stamped(checkpoint(false), repeated, july);
  mktime_last_saw(july);
  CHECK(libzip_checkcons_opens(file));
  mktime_last_saw(january);
  CHECK(!libzip_checkcons_opens(file));
}

TEST_CASE("a plain archive with a repeated clock time: accepted on every run") {
  zone berlin("Europe/Berlin");
  for (const dos_stamp odd : {repeated, skipped}) {
    const bytes file = stamped(checkpoint(false), odd, july);
    for (const dos_stamp before : {july, january, july}) {
      CAPTURE(before.date);
      mktime_last_saw(before);
      for (const zip_check check : {zip_check::strict_when_stored, zip_check::libzip_always}) {
        const auto a = archive::open(file, pthsafe::limits{}, check);
        REQUIRE(a);
        CHECK((*a)->libzip_opened() == (check == zip_check::libzip_always));
        CHECK(!(*a)->libzip_checked_local());
      }
      const auto later = archive::open(file, pthsafe::limits{}, zip_check::libzip_after_load);
      REQUIRE(later);
      REQUIRE((*later)->libzip_deferred());
      mktime_last_saw(before);
      const auto agreed = archive::libzip_agrees(file, pthsafe::limits{});
      REQUIRE(agreed);
      CHECK(!*agreed);  // without ZIP_CHECKCONS
      const auto rep = pthsafe::scan_buffer(file);
      CHECK(rep.verdict == pthsafe::verdict::safe);
    }
  }
}

TEST_CASE("any other archive with such a time: refused with libzip's code on every run") {
  zone berlin("Europe/Berlin");
  const bytes file = stamped(checkpoint(true), repeated, july);
  for (const dos_stamp before : {july, january}) {
    mktime_last_saw(before);
    for (const zip_check check : {zip_check::strict_when_stored, zip_check::libzip_always, zip_check::libzip_after_load}) {
      const auto a = archive::open(file, pthsafe::limits{}, check);
      REQUIRE(!a);
      CHECK(a.error_value().code == errc::zip_libzip_rejected);
      CHECK(a.error_value().message.find("time zone") != std::string::npos);
    }
    const auto rep = pthsafe::scan_buffer(file);
    CHECK(rep.verdict == pthsafe::verdict::malformed);
    REQUIRE(!rep.findings.empty());
    CHECK(rep.findings[0].message.find("occurs twice or never") != std::string::npos);
  }
  // An all-stored archive that is not plain (a non-ASCII name) goes to the gate's later check.
  auto z = checkpoint(false);
  z.add("archive/extra/caf\xc3\xa9", "x");
  const bytes stored = stamped(z, repeated, july);
  const auto later = archive::open(stored, pthsafe::limits{}, zip_check::libzip_after_load);
  REQUIRE(later);
  REQUIRE((*later)->libzip_deferred());
  const auto agreed = archive::libzip_agrees(stored, pthsafe::limits{});
  REQUIRE(!agreed);
  CHECK(agreed.error_value().code == errc::zip_libzip_rejected);
  {
    zone utc("UTC");
    const auto a = archive::open(file, pthsafe::limits{}, zip_check::libzip_always);
    REQUIRE(a);
    CHECK((*a)->libzip_checked_local());
    CHECK(pthsafe::scan_buffer(file).verdict == pthsafe::verdict::safe);
  }
}
