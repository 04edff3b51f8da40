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
  auto ck = pthsafe::checkpoint::open_buffer(b);
  REQUIRE_FALSE(ck);
  CHECK(ck.code() == pthsafe::errc::limit_exceeded);
  CHECK(ck.error_value().message.find("max_nesting_depth") != std::string::npos);
  CHECK(pthsafe::scan_buffer(b).verdict == pthsafe::verdict::malformed);
}
