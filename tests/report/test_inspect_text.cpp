// pthsafe::inspect_text: the `pthsafe inspect` tree as the library writes it, exact lines, and
// its output budget (a shared subtree repeated past max_output_bytes fails after the lines that
// fit were written).
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "pthsafe/pthsafe.hpp"
#include "pthsafe/report.hpp"
#include "support/pickle_builder.hpp"

using namespace pthsafe_test;

TEST_CASE("inspect_text: exact tree of a dict with a tensor-free mix of values") {
  pickle_writer p;
  p.proto(2).empty_dict().mark();
  p.binunicode("name").binunicode("a\x1b[2J");
  p.binunicode("xs").mark().binfloat(1.0).binfloat(-0.0).list();
  p.setitems().stop();
  const bytes b = p.take();
  auto ck = pthsafe::checkpoint::open_buffer(b);
  REQUIRE_MESSAGE(ck, ck.error_value().to_string());
  auto text = pthsafe::inspect_text(*ck);
  REQUIRE(text);
  CHECK(*text ==
        "<root>: dict (2 items)\n"
        "  'name': str 'a\\x1b[2J'\n"
        "  'xs': list (2 items)\n"
        "    [0]: float 1.0\n"
        "    [1]: float -0.0\n"
        "total: 0 tensors, 0 storages, 0 bytes\n");
  std::vector<std::string> lines;
  REQUIRE(pthsafe::inspect_text(*ck, [&](std::string_view s) { lines.emplace_back(s); }));
  REQUIRE(lines.size() == 6);
  CHECK(lines[0] == "<root>: dict (2 items)\n");
  CHECK(lines[5] == "total: 0 tensors, 0 storages, 0 bytes\n");
}

TEST_CASE("inspect_text: a tensor line from a torch-made fixture") {
  auto ck = pthsafe::checkpoint::open(PTHSAFE_FIXTURES "/dtypes.pt", {.mode = pthsafe::load_mode::metadata});
  REQUIRE_MESSAGE(ck, ck.error_value().to_string());
  auto text = pthsafe::inspect_text(*ck);
  REQUIRE(text);
  CHECK(text->starts_with("<root>: "));
  CHECK(text->find(": float32 [") != std::string::npos);
  CHECK(text->ends_with(" bytes\n"));
}

TEST_CASE("inspect_text stops at max_output_bytes when shared references repeat a value") {
  // One 1000-character str referenced 2000 times: its 80-character clip repeats 2000 times.
  pickle_writer p;
  p.proto(2).mark();
  p.binunicode(std::string(1000, 's')).binput(0);
  for (int i = 0; i < 1999; ++i) p.binget(0);
  p.list().stop();
  const bytes b = p.take();
  pthsafe::load_options o;
  o.mode = pthsafe::load_mode::metadata;
  o.limits.max_output_bytes = 50000;
  auto ck = pthsafe::checkpoint::open_buffer(b, o);
  REQUIRE_MESSAGE(ck, ck.error_value().to_string());
  std::string written;
  auto r = pthsafe::inspect_text(*ck, [&](std::string_view s) { written += s; });
  REQUIRE_FALSE(r);
  CHECK(r.code() == pthsafe::errc::limit_exceeded);
  CHECK(r.error_value().message ==
        "limit max_output_bytes (50000 bytes) or 1 Mi lines: the tree expands past it through shared references");
  CHECK(written.size() <= 50000);
  CHECK(written.starts_with("<root>: list (2000 items)\n  [0]: str '"));
  CHECK(written.find("total:") == std::string::npos);
  CHECK_FALSE(pthsafe::inspect_text(*ck));
  o.limits.max_output_bytes = 1 << 20;
  auto ck2 = pthsafe::checkpoint::open_buffer(b, o);
  REQUIRE(ck2);
  auto whole = pthsafe::inspect_text(*ck2);
  REQUIRE(whole);
  CHECK(whole->ends_with("total: 0 tensors, 0 storages, 0 bytes\n"));
}
