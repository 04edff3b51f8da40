// Every input a fuzzer once crashed on, with the outcome it must have now.
#include <doctest/doctest.h>

#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "pthsafe/json.hpp"
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
