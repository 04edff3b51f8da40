// Every input a fuzzer once crashed on, with the outcome it must have now.
#include <doctest/doctest.h>

#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "pthsafe/report.hpp"
#include "pthsafe/pthsafe.hpp"

namespace {
std::vector<std::byte> read_regress(const std::string& name) {
  std::ifstream in(std::string(PTHSAFE_REGRESS) + "/" + name, std::ios::binary);
  std::vector<char> c((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::byte> b(c.size());
  for (std::size_t i = 0; i < c.size(); ++i) b[i] = std::byte(static_cast<unsigned char>(c[i]));
  return b;
}
}  // namespace

TEST_CASE("regress: a shared subtree reached again at depth nests deeper than its first visit") {
  // fuzz_load found it: nodes first seen shallow, then referenced from deep inside, made the
  // JSON walker recurse past the stack. Depth is now the height of the value graph.
  const auto b = read_regress("shared_subtree_depth.pkl");
  REQUIRE(!b.empty());
  // (It also uses a memo index past max_memo_entries, now refused first: any limit will do.)
  auto ck = pthsafe::checkpoint::open_buffer(b);
  REQUIRE_FALSE(ck);
  CHECK(ck.code() == pthsafe::errc::limit_exceeded);
  CHECK(pthsafe::scan_buffer(b).verdict == pthsafe::verdict::malformed);
}

TEST_CASE("nesting depth counts a shared subtree at its deepest reference") {
  // A: 600 nested lists, memoised; root = (A, T) where T wraps A in 500 more lists. A is first
  // seen at depth 2, but through T the graph is 1102 deep. Wrapping the top of the stack X in a
  // list: memoise X, POP, EMPTY_LIST, GET X, APPEND.
  const std::string wrap = std::string("q\x01") + "0]h" + std::string("\x01") + "a";
  std::string p = "\x80\x02]";
  for (int i = 0; i < 599; ++i) p += wrap;
  p += std::string("q\0", 2) + std::string("h\0", 2);
  for (int i = 0; i < 500; ++i) p += wrap;
  p += "\x86.";
  std::vector<std::byte> b(p.size());
  for (std::size_t i = 0; i < p.size(); ++i) b[i] = std::byte(static_cast<unsigned char>(p[i]));
  auto ck = pthsafe::checkpoint::open_buffer(b);
  REQUIRE_FALSE(ck);
  CHECK(ck.code() == pthsafe::errc::limit_exceeded);
  CHECK(ck.error_value().message.find("max_nesting_depth") != std::string::npos);
}

TEST_CASE("regress: a dict key nested 400,000 tuples deep is refused before it is hashed") {
  // The pickle oracle found it: hashing the key recursed past the stack (SIGSEGV) before the
  // depth check at STOP. Tuple heights are now bounded when each tuple is built.
  const auto b = read_regress("deep_tuple_key.pkl");
  REQUIRE(b.size() > 400000);
  auto ck = pthsafe::checkpoint::open_buffer(b);
  REQUIRE_FALSE(ck);
  CHECK(ck.code() == pthsafe::errc::limit_exceeded);
  CHECK(ck.error_value().message.find("max_nesting_depth") != std::string::npos);
  CHECK(pthsafe::scan_buffer(b).verdict == pthsafe::verdict::malformed);
}

#include "support/pickle_builder.hpp"

TEST_CASE("scan: storage bytes that merely start like a pickle are tensor data") {
  // Found on a real 100,000-tensor torch file: 9 float records began with 0x80 and a protocol
  // byte, and the gate read them as broken pickles (malformed). A storage counts as a hidden
  // pickle only when it is a complete one.
  using namespace pthsafe_test;
  tensor_spec t;
  t.key = "w";
  t.shape = {4};
  bytes data = float32_ramp(4);
  const unsigned char junk[] = {0x80, 0x02, 'c', 'o', 's', '\n', 's', 'y', 's', '\n', 0x10, 0x11};
  for (std::size_t i = 0; i < sizeof junk; ++i) data[i] = std::byte(junk[i]);
  const bytes file = torch_checkpoint(state_dict_pickle({t}), {{"0", data}}).build();
  const auto rep = pthsafe::scan_buffer(file);
  CHECK(rep.verdict == pthsafe::verdict::safe);
  // The same record holding a complete pickle is a hidden pickle, judged as one.
  static const char evil_bytes[] = "\x80\x02" "cos\nsystem\n" "X\x02\x00\x00\x00" "id\x85R.";
  const std::string evil(evil_bytes, sizeof evil_bytes - 1);  // embedded NULs
  bytes hidden(evil.size());
  for (std::size_t i = 0; i < evil.size(); ++i) hidden[i] = std::byte(static_cast<unsigned char>(evil[i]));
  tensor_spec u = t;
  u.storage_numel = static_cast<std::int64_t>(hidden.size()) / 4;
  const bytes file2 = torch_checkpoint(state_dict_pickle({t}), {{"0", data}, {"9", hidden}}).build();
  CHECK(pthsafe::scan_buffer(file2).verdict == pthsafe::verdict::unsafe);
}

namespace {
// Pushes t_n where t_0 = () and t_{i+1} = (t_i, t_i): n+1 distinct tuples, 2^n paths. Memo
// slots base..base+n are used.
void shared_tuple_chain(pthsafe_test::pickle_writer& w, std::uint32_t base, std::uint32_t n) {
  w.empty_tuple().put(base);
  for (std::uint32_t i = 0; i < n; ++i) w.pop().get(base + i).get(base + i).tuple2().put(base + i + 1);
}
}  // namespace

TEST_CASE("regress: a dict key of shared tuples is hashed once per node, not once per path") {
  // fuzz_load found it: is_hashable (and key_hash) walked every path of ((t, t), (t, t))...,
  // 2^n for n levels; a 426-byte file ran past the 10 s timeout. Hashability is now fixed when
  // a tuple is built and hashes are cached per node.
  using namespace pthsafe_test;
  const auto b = read_regress("shared_tuple_key_hash.pkl");
  REQUIRE(b.size() == 426);
  auto ck = pthsafe::checkpoint::open_buffer(b);
  REQUIRE_FALSE(ck);
  CHECK(ck.code() == pthsafe::errc::pickle_bad_text);  // the first thing wrong past the key
  // Its later GLOBAL _coddata/0.ecs is not on the allowlist: the gate says unsafe.
  CHECK(pthsafe::scan_buffer(b).verdict == pthsafe::verdict::unsafe);

  // A 200-level key (2^200 paths) loads, and the same object set twice stays one key.
  pickle_writer w;
  w.proto(2).empty_dict();
  shared_tuple_chain(w, 0, 200);
  w.put(1000).integer(1).setitem().get(1000).integer(2).setitem().stop();
  const bytes good = w.take();
  auto ok = pthsafe::checkpoint::open_buffer(good);
  REQUIRE(ok);
  REQUIRE(ok->root().size() == 1);
  CHECK(ok->root().items()[1]->as_int64() == 2);
  // Written out, the key is 2^200 values: a scan judges it malformed where inspect --json stops.
  const auto rep = pthsafe::scan_buffer(good);
  CHECK(rep.verdict == pthsafe::verdict::malformed);
  REQUIRE_FALSE(rep.findings.empty());
  CHECK(rep.findings.front().rule == "limit_exceeded");
}

TEST_CASE("two distinct but equal keys of shared tuples hit the key-comparison budget") {
  // Comparing two separately built 40-level chains visits 2^40 node pairs (CPython hangs on
  // it). The comparison stops at the budget and the load fails naming the limit, in each
  // place keys are compared: SETITEM, FROZENSET, OrderedDict(pairs) and set(list).
  using namespace pthsafe_test;
  const auto refused = [](const bytes& b) {
    auto ck = pthsafe::checkpoint::open_buffer(b);
    REQUIRE_FALSE(ck);
    CHECK(ck.code() == pthsafe::errc::limit_exceeded);
    CHECK(ck.error_value().message.find("max_key_compare_nodes") != std::string::npos);
    CHECK(pthsafe::scan_buffer(b).verdict == pthsafe::verdict::malformed);
  };
  SUBCASE("SETITEM") {
    pickle_writer w;
    w.proto(2).empty_dict();
    shared_tuple_chain(w, 0, 40);
    w.integer(1).setitem();
    shared_tuple_chain(w, 100, 40);
    w.integer(2).setitem().stop();
    refused(w.take());
  }
  SUBCASE("FROZENSET") {
    pickle_writer w;
    w.proto(4).mark();
    shared_tuple_chain(w, 0, 40);
    shared_tuple_chain(w, 100, 40);
    w.frozenset().stop();
    refused(w.take());
  }
  SUBCASE("collections.OrderedDict(list of pairs)") {
    pickle_writer w;
    w.proto(2).global("collections", "OrderedDict").empty_list();
    shared_tuple_chain(w, 0, 40);
    w.integer(1).tuple2().append();
    shared_tuple_chain(w, 100, 40);
    w.integer(2).tuple2().append().tuple1().reduce().stop();
    refused(w.take());
  }
  SUBCASE("builtins.set(list)") {
    pickle_writer w;
    w.proto(2).global("builtins", "set").empty_list();
    shared_tuple_chain(w, 0, 40);
    w.append();
    shared_tuple_chain(w, 100, 40);
    w.append().tuple1().reduce().stop();
    refused(w.take());
  }
  SUBCASE("identical items count too: (T,)*3000 against an equal copy, T = (None,)*3000") {
    // Every one of the 9 million item comparisons ends at the identity shortcut; without a
    // charge for those, n*m work comes from n+m bytes.
    pickle_writer w;
    w.proto(2).empty_dict().none().put(0).pop();
    for (std::uint32_t copy = 0; copy < 2; ++copy) {
      w.mark();
      for (int i = 0; i < 3000; ++i) w.get(0);
      w.tuple().put(1 + copy).pop().mark();
      for (int i = 0; i < 3000; ++i) w.get(1 + copy);
      w.tuple().integer(copy).setitem();
    }
    refused(w.stop().take());
  }
  SUBCASE("equal keys of modest size still merge") {
    pickle_writer w;
    w.proto(2).empty_dict();
    shared_tuple_chain(w, 0, 6);
    w.integer(1).setitem();
    shared_tuple_chain(w, 100, 6);
    w.integer(2).setitem().stop();
    const bytes b = w.take();
    auto ck = pthsafe::checkpoint::open_buffer(b);
    REQUIRE(ck);
    REQUIRE(ck->root().size() == 1);
    CHECK(ck->root().items()[1]->as_int64() == 2);
  }
}
