// archive::open checks the local headers on a second thread, beside the name checks, when the
// directory is large (zip/archive.hpp). Forced on and off, it must give the same archive or the
// same error line on every fixture, hostile and regression file under every zip_check, and the
// sequential order of refusals where one archive breaks both: the local-header walk's refusal
// first, then the name checks'.
#include <doctest/doctest.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "support/zip_builder.hpp"
#include "util/cpus.hpp"
#include "zip/archive.hpp"

using namespace pthsafe_test;
using pthsafe::detail::archive;
using pthsafe::detail::zip_check;

namespace {

struct parallel_threshold {
  std::size_t saved = pthsafe::detail::parallel_local_check_min_entries();
  explicit parallel_threshold(std::size_t n) { pthsafe::detail::set_parallel_local_check_min_entries(n); }
  ~parallel_threshold() { pthsafe::detail::set_parallel_local_check_min_entries(saved); }
  parallel_threshold(const parallel_threshold&) = delete;
  parallel_threshold& operator=(const parallel_threshold&) = delete;
};

// What open says: the error line, or the entries' names and data offsets, the top folder and
// whether libzip was opened (or left for later).
std::string opened(std::span<const std::byte> file, zip_check check) {
  auto a = archive::open(file, pthsafe::limits{}, check);
  if (!a) return "error " + a.error_value().to_string();
  std::string out = "root " + std::string((*a)->root()) + " libzip " + std::to_string((*a)->libzip_opened()) +
                    " deferred " + std::to_string((*a)->libzip_deferred());
  for (const auto& e : (*a)->entries()) out += "\n" + std::string(e.name()) + "@" + std::to_string(e.data_offset());
  return out;
}

std::string both_ways_differ(std::span<const std::byte> file, zip_check check) {
  std::string beside, in_line;
  {
    const parallel_threshold always(0);
    beside = opened(file, check);
  }
  {
    const parallel_threshold never(SIZE_MAX);
    in_line = opened(file, check);
  }
  return beside == in_line ? std::string() : "beside:\n" + beside + "\nin line:\n" + in_line;
}

bytes read_file(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::vector<char> raw((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  bytes out(raw.size());
  if (!raw.empty()) std::memcpy(out.data(), raw.data(), raw.size());  // an empty file: no pointers
  return out;
}

}  // namespace

TEST_CASE("parallel local-header check: the default threshold, and a second CPU here") {
  CHECK(pthsafe::detail::parallel_local_check_min_entries() == 4096);
  // Without a second CPU the thread is never started and the cases below compare the in-line
  // walk with itself.
  WARN(pthsafe::detail::usable_cpus() >= 2);
}

TEST_CASE("parallel local-header check: every zip under tests/ opens alike with and without the thread") {
  const std::string root = std::string(PTHSAFE_FIXTURES) + "/..";
  std::size_t zips = 0;
  for (const char* dir : {"fixtures", "hostile", "data"}) {
    for (const auto& e : std::filesystem::recursive_directory_iterator(root + "/" + dir)) {
      if (!e.is_regular_file() || e.file_size() > (8u << 20)) continue;
      const bytes file = read_file(e.path());
      if (file.size() < 22) continue;
      CAPTURE(e.path().string());
      for (const zip_check c : {zip_check::libzip_always, zip_check::strict_when_stored, zip_check::libzip_after_load})
        CHECK(both_ways_differ(file, c) == "");
      ++zips;
    }
  }
  CHECK(zips > 200);
}

TEST_CASE("parallel local-header check: a local-header refusal comes before a name refusal, either way") {
  // Many records (the thread has work while the names are checked), a duplicate name near the
  // start and a local header naming another file near the end: the walk's refusal is reported.
  zip_builder z;
  z.add("archive/data.pkl", "\x80\x02}q\x00.");
  for (int i = 0; i < 3000; ++i) z.add("archive/data/" + std::to_string(i), "0123456789abcdef");
  z.add("archive/version", "3\n");
  z.records[2].name = "archive/data/0";             // duplicate of record 1
  z.records[2900].local_name = "archive/data/x";    // local header disagrees
  const bytes both = z.build();
  for (const zip_check c : {zip_check::libzip_always, zip_check::strict_when_stored, zip_check::libzip_after_load}) {
    CHECK(both_ways_differ(both, c) == "");
    const parallel_threshold always(0);
    const std::string line = opened(both, c);
    CAPTURE(line);
    CHECK(line.find(": zip_local_header: ") != std::string::npos);
  }
  // Without the local-header fault the duplicate is what is refused, either way.
  z.records[2900].local_name.reset();
  const bytes names_only = z.build();
  for (const zip_check c : {zip_check::libzip_always, zip_check::strict_when_stored, zip_check::libzip_after_load}) {
    CHECK(both_ways_differ(names_only, c) == "");
    const parallel_threshold always(0);
    CHECK(opened(names_only, c).find(": zip_duplicate_name: ") != std::string::npos);
  }
  // And with neither, both ways open it with the same offsets.
  z.records[2].name = "archive/data/dup_gone";
  const bytes clean = z.build();
  for (const zip_check c : {zip_check::libzip_always, zip_check::strict_when_stored, zip_check::libzip_after_load}) {
    CHECK(both_ways_differ(clean, c) == "");
    const parallel_threshold always(0);
    CHECK(opened(clean, c).find("root archive") == 0);
  }
}
