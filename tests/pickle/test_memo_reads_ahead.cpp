// data.pkl's memo walk run ahead on a second thread (pickle/memo_reads_ahead.hpp): the machine
// takes its answer only for the bytes and bound it walked, and a load that takes it shows the
// same checkpoint, error and gate report as one that walks in line (on every fixture and hostile
// file, and on a saved checkpoint over the default size threshold, which must use the thread).
#include <doctest/doctest.h>

#include <sched.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <vector>

#include "pickle/memo_reads_ahead.hpp"
#include "pickle/memo_uses.hpp"
#include "pickle/opcodes.hpp"
#include "pthsafe/pthsafe.hpp"
#include "pthsafe/report.hpp"
#include "pthsafe/save.hpp"
#include "pthsafe/scan.hpp"

namespace op = pthsafe::detail::op;
using pthsafe::detail::memo_reads;
using pthsafe::detail::memo_reads_ahead;
using pthsafe::detail::memo_reads_ahead_uses;
using pthsafe::detail::set_walk_ahead_min_bytes;
using pthsafe::detail::walk_ahead_min_bytes;

namespace {

bool two_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  return sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) >= 2;
}

// Sets the walk-ahead threshold for a scope.
struct ahead_threshold {
  std::uint64_t saved = walk_ahead_min_bytes();
  explicit ahead_threshold(std::uint64_t n) { set_walk_ahead_min_bytes(n); }
  ~ahead_threshold() { set_walk_ahead_min_bytes(saved); }
  ahead_threshold(const ahead_threshold&) = delete;
  ahead_threshold& operator=(const ahead_threshold&) = delete;
};

// A pickle that reads back memo 1 and 3 (of 0..3) and never 0 and 2.
std::vector<std::byte> sample_pickle() {
  const std::vector<unsigned char> p{op::PROTO, 2, op::EMPTY_LIST, op::BINPUT, 0, op::EMPTY_LIST, op::BINPUT, 1,
                                     op::EMPTY_LIST, op::BINPUT, 2, op::EMPTY_LIST, op::BINPUT, 3, op::BINGET, 1,
                                     op::LONG_BINGET, 3, 0, 0, 0, op::STOP};
  std::vector<std::byte> out(p.size());
  std::memcpy(out.data(), p.data(), p.size());
  return out;
}

std::vector<bool> answers(const std::optional<memo_reads>& r, std::uint64_t n) {
  std::vector<bool> out;
  for (std::uint64_t i = 0; i < n; ++i) out.push_back(!r || r->read(i));
  return out;
}

std::vector<std::byte> read_file(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::vector<char> raw((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  std::vector<std::byte> out(raw.size());
  if (!raw.empty()) std::memcpy(out.data(), raw.data(), raw.size());  // an empty file: no pointers
  return out;
}

// The load (copy mode) and the gate's report, as text.
std::string outcome(std::span<const std::byte> file) {
  pthsafe::load_options o;
  std::string out;
  if (auto ck = pthsafe::checkpoint::open_buffer(file, o)) {
    auto doc = pthsafe::inspect_json(*ck);
    out = doc ? *doc : "json error " + doc.error_value().to_string();
    for (const auto& w : ck->warnings()) out += "\nwarning " + w;
  } else {
    out = "error " + ck.error_value().to_string();
  }
  return out + "\n--\n" + pthsafe::scan_report_json("f", pthsafe::scan_buffer(file));
}

}  // namespace

TEST_CASE("memo walk ahead: the answer is memo_reads::of's, for exactly the bytes and bound walked") {
  const ahead_threshold any(0);
  const auto p = sample_pickle();
  const std::span<const std::byte> all(p);
  const auto inline_answer = memo_reads::of(all, 100);
  REQUIRE(inline_answer);
  CHECK(answers(inline_answer, 6) == std::vector<bool>{false, true, false, true, false, false});

  {
    memo_reads_ahead a;
    a.start(all, 100);
    std::optional<memo_reads> got;
    CHECK(a.take(all, 100, got) == two_cpus());
    if (two_cpus()) CHECK(answers(got, 6) == answers(inline_answer, 6));
    std::optional<memo_reads> again;
    CHECK_FALSE(a.take(all, 100, again));  // one answer per walk
  }
  {
    // Other bytes (a prefix: same address, other size), another bound, other memory: walk yourself.
    memo_reads_ahead a;
    a.start(all, 100);
    std::optional<memo_reads> got;
    CHECK_FALSE(a.take(all.first(all.size() - 1), 100, got));
    memo_reads_ahead b;
    b.start(all, 100);
    CHECK_FALSE(b.take(all, 3, got));
    const std::vector<std::byte> copy(p.begin(), p.end());
    memo_reads_ahead c;
    c.start(all, 100);
    CHECK_FALSE(c.take(std::span<const std::byte>(copy), 100, got));
  }
  {
    memo_reads_ahead never_started;
    std::optional<memo_reads> got;
    CHECK_FALSE(never_started.take(all, 100, got));
  }
  {
    // Below the threshold nothing starts.
    const ahead_threshold big(all.size() + 1);
    memo_reads_ahead a;
    a.start(all, 100);
    std::optional<memo_reads> got;
    CHECK_FALSE(a.take(all, 100, got));
  }
  {
    // Started and never taken (a load that failed before its pickle): the destructor waits.
    memo_reads_ahead a;
    a.start(all, 100);
  }
}

TEST_CASE("memo walk ahead: a stop request ends the walk within 64 KiB") {
  // PROTO 2, then 200,000 NONEs, a memo read, STOP: the read is past the first 64 KiB.
  std::vector<std::byte> p(2 + 200000 + 3);
  p[0] = std::byte{op::PROTO};
  p[1] = std::byte{2};
  for (std::size_t i = 2; i < 200002; ++i) p[i] = std::byte{op::NONE};
  p[200002] = std::byte{op::BINGET};
  p[200003] = std::byte{5};
  p[200004] = std::byte{op::STOP};
  std::atomic<bool> stop{false};
  const auto walked = memo_reads::of(std::span<const std::byte>(p), 100, &stop);
  REQUIRE(walked);
  CHECK(walked->read(5));
  CHECK_FALSE(walked->read(4));
  stop = true;
  CHECK_FALSE(memo_reads::of(std::span<const std::byte>(p), 100, &stop));
  // A pickle shorter than 64 KiB is walked whole: the request is read only at 64 KiB steps.
  const auto small = sample_pickle();
  CHECK(memo_reads::of(std::span<const std::byte>(small), 100, &stop));
}

TEST_CASE("memo walk ahead: every fixture and hostile file loads and scans alike with and without it") {
  std::vector<std::filesystem::path> files;
  for (const std::string& dir : {std::string(PTHSAFE_FIXTURES), std::string(PTHSAFE_FIXTURES) + "/../hostile"})
    for (const auto& e : std::filesystem::recursive_directory_iterator(dir))
      if (e.is_regular_file() && e.file_size() < (8u << 20)) files.push_back(e.path());
  REQUIRE(files.size() > 100);
  const std::uint64_t before = memo_reads_ahead_uses();
  std::size_t compared = 0;
  for (const auto& f : files) {
    const auto bytes = read_file(f);
    if (bytes.size() < 4 || std::memcmp(bytes.data(), "PK\3\4", 4) != 0) continue;
    CAPTURE(f.string());
    std::string ahead, in_line;
    {
      const ahead_threshold always(0);
      ahead = outcome(bytes);
    }
    {
      const ahead_threshold never(UINT64_MAX);
      in_line = outcome(bytes);
    }
    CHECK(ahead == in_line);
    ++compared;
  }
  CHECK(compared > 100);
  if (two_cpus()) CHECK(memo_reads_ahead_uses() - before > 100);  // the thread's answers were taken
}

TEST_CASE("memo walk ahead: a data.pkl over the default threshold is walked on the second thread") {
  // 30,000 one-element tensors: a data.pkl of ~2.4 MB.
  std::vector<float> storage(30000);
  for (std::size_t i = 0; i < storage.size(); ++i) storage[i] = static_cast<float>(i);
  auto root = pthsafe::save_value::ordered_dict();
  for (std::size_t i = 0; i < storage.size(); ++i) {
    pthsafe::save_tensor t;
    t.shape = {1};
    t.storage = std::as_bytes(std::span<const float>(&storage[i], 1));
    root.set("layer." + std::to_string(i) + ".weight", t);
  }
  const auto file = pthsafe::save_to_bytes(root);
  REQUIRE(file);
  CHECK(walk_ahead_min_bytes() == (std::uint64_t{1} << 20));
  const std::uint64_t before = memo_reads_ahead_uses();
  const std::string ahead = outcome(*file);
  CHECK(memo_reads_ahead_uses() - before == (two_cpus() ? 2u : 0u));  // the load and the gate's load
  const ahead_threshold never(UINT64_MAX);
  CHECK(outcome(*file) == ahead);
  CHECK(memo_reads_ahead_uses() - before == (two_cpus() ? 2u : 0u));
  auto ck = pthsafe::checkpoint::open_buffer(*file);
  REQUIRE(ck);
  CHECK(ck->tensor_count() == storage.size());
}
