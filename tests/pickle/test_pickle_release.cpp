// The machine hands back the pickle's pages as it reads past them (machine::release_behind):
// every byte once, in order, in steps of at least 1 MiB, the rest when the run ends however it
// ends; a pickle under 4 MiB hands back nothing. What it builds is unchanged: text is copied.
#include <doctest/doctest.h>

#include <string>
#include <utility>
#include <vector>

#include "model/state.hpp"
#include "pickle/machine.hpp"
#include "support/pickle_builder.hpp"

using namespace pthsafe_test;
using pthsafe::errc;
using pthsafe::value;
using pthsafe::value_kind;
namespace d = pthsafe::detail;

namespace {

// Refuses every call: the pickles here are plain data.
class no_calls final : public d::call_target {
 public:
  pthsafe::result<value*> reduce(value&, value&) override { return refuse(); }
  pthsafe::result<value*> newobj(value&, value&) override { return refuse(); }
  pthsafe::result<void> build(value&, value&) override { return refuse().error_value(); }
  pthsafe::result<value*> persistent_load(value&) override { return refuse(); }

 private:
  static pthsafe::result<value*> refuse() { return pthsafe::make_error(errc::pickle_bad_operand, "no calls here"); }
};

// A list of `n` distinct strings of `len` bytes, APPENDS in batches of 1000 as pickle.py writes.
bytes string_list(int n, std::size_t len, bool stop = true) {
  pickle_writer w;
  w.proto(2).empty_list();
  for (int i = 0; i < n; ++i) {
    if (i % 1000 == 0) w.mark();
    std::string s = std::to_string(i);
    s.resize(len, 'x');
    w.binunicode(s);
    if (i % 1000 == 999 || i == n - 1) w.appends();
  }
  if (stop) w.stop();
  return w.take();
}

struct released {
  std::vector<std::pair<std::size_t, std::size_t>> ranges;  // offset in the pickle, length
};

struct run_result {
  pthsafe::result<value*> root;
  released got;
};

run_result run(d::checkpoint_state& st, const bytes& pickle, bool with_release = true) {
  no_calls target;
  const pthsafe::load_options opts;
  d::machine m(st, target, opts, "test.pkl");
  run_result out{pthsafe::make_error(errc::pickle_truncated, "not run"), {}};
  const d::page_release rel = [&](std::span<const std::byte> b) {
    out.got.ranges.emplace_back(static_cast<std::size_t>(b.data() - pickle.data()), b.size());
  };
  if (with_release) m.release_behind(rel);
  std::uint64_t end = 0;
  out.root = m.run(std::span<const std::byte>(pickle.data(), pickle.size()), end);
  return out;
}

// The ranges cover [0, to) once, in order; all but the last span at least 1 MiB.
void check_covers(const released& r, std::size_t to) {
  REQUIRE(!r.ranges.empty());
  std::size_t at = 0;
  for (std::size_t i = 0; i < r.ranges.size(); ++i) {
    CAPTURE(i);
    CHECK(r.ranges[i].first == at);
    if (i + 1 < r.ranges.size()) CHECK(r.ranges[i].second >= (std::size_t{1} << 20));
    at += r.ranges[i].second;
  }
  CHECK(at == to);
}

}  // namespace

TEST_CASE("a pickle of 4 MiB or more hands back its pages behind the machine, and loads as without") {
  const bytes pickle = string_list(20000, 300);  // ~6 MB
  REQUIRE(pickle.size() > (std::size_t{5} << 20));
  d::checkpoint_state st;
  const auto r = run(st, pickle);
  REQUIRE(r.root);
  check_covers(r.got, pickle.size());
  CHECK(r.got.ranges.size() >= 5);
  const value& list = **r.root;
  REQUIRE(list.kind() == value_kind::list);
  REQUIRE(list.items().size() == 20000);
  // The text is the arena's copy: it stays readable whatever happened to the pickle's pages.
  CHECK(list.items()[19999]->text().substr(0, 6) == "19999x");
  CHECK(list.items()[19999]->text().size() == 300);
  const auto* text0 = reinterpret_cast<const std::byte*>(list.items()[0]->text().data());
  const bool outside = text0 < pickle.data() || text0 >= pickle.data() + pickle.size();
  CHECK(outside);

  d::checkpoint_state st2;
  const auto without = run(st2, pickle, false);
  REQUIRE(without.root);
  CHECK(without.got.ranges.empty());
  CHECK((**without.root).items()[12345]->text() == list.items()[12345]->text());
}

TEST_CASE("a pickle under 4 MiB hands back nothing") {
  const bytes pickle = string_list(10000, 300);  // ~3 MB
  REQUIRE(pickle.size() < (std::size_t{4} << 20));
  d::checkpoint_state st;
  const auto r = run(st, pickle);
  REQUIRE(r.root);
  CHECK(r.got.ranges.empty());
}

TEST_CASE("a run that fails hands back what it read, and no more") {
  bytes pickle = string_list(20000, 300, false);  // no STOP: truncated at the end
  d::checkpoint_state st;
  const auto r = run(st, pickle);
  REQUIRE(!r.root);
  CHECK(r.root.error_value().code == errc::pickle_truncated);
  check_covers(r.got, pickle.size());
  // A refusal in the middle: the pages up to the failing opcode's operand go back.
  bytes mid = string_list(20000, 300);
  const std::size_t bad = mid.size() / 2;
  std::size_t at = bad;
  while (mid[at] != static_cast<std::byte>('x')) ++at;  // inside a string's text
  mid[at] = static_cast<std::byte>(0xff);               // not UTF-8
  d::checkpoint_state st2;
  const auto r2 = run(st2, mid);
  REQUIRE(!r2.root);
  CHECK(r2.root.error_value().code == errc::pickle_bad_text);
  REQUIRE(!r2.got.ranges.empty());
  const auto& last = r2.got.ranges.back();
  CHECK(last.first + last.second > at);
  CHECK(last.first + last.second < mid.size());
  check_covers(r2.got, last.first + last.second);
}
