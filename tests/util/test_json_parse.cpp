// The strict JSON reader: RFC 8259 accepted exactly, every ambiguity and every limit refused with
// its code.
#include <doctest/doctest.h>

#include <string>

#include "util/json_parse.hpp"

using namespace pthsafe;
using detail::json_kind;
using detail::parse_json;

namespace {

errc code_of(std::string_view text, const limits& lim = {}) { return parse_json(text, lim).code(); }

}  // namespace

TEST_CASE("json_parse: values, order and exact integers") {
  auto v = parse_json(R"( {"b": [1, -2, 9223372036854775807, -9223372036854775808], "a": {"x": null},
                          "s": "\u00e9\ud83d\ude00\n\"\\/", "t": true, "f": false, "r": -1.5e3} )");
  REQUIRE(v.has_value());
  REQUIRE(v->kind == json_kind::object);
  REQUIRE(v->keys.size() == 6);
  CHECK(v->keys[0] == "b");  // text order, not sorted
  CHECK(v->keys[1] == "a");
  const auto* b = v->find("b");
  REQUIRE(b);
  REQUIRE(b->items.size() == 4);
  CHECK(b->items[1].integer == -2);
  CHECK(b->items[2].integer == INT64_MAX);
  CHECK(b->items[3].integer == INT64_MIN);
  CHECK(v->find("a")->find("x")->kind == json_kind::null);
  CHECK(v->find("s")->text == "\xc3\xa9\xf0\x9f\x98\x80\n\"\\/");
  CHECK(v->find("t")->boolean);
  CHECK_FALSE(v->find("f")->boolean);
  CHECK(v->find("r")->kind == json_kind::real);
  CHECK(v->find("r")->real == -1500.0);
  CHECK(v->find("zz") == nullptr);
  CHECK(parse_json("0").value().integer == 0);
  CHECK(parse_json("[]").value().items.empty());
  CHECK(parse_json("\"\"").value().text.empty());
}

TEST_CASE("json_parse: malformed text is refused as json_malformed") {
  for (const char* bad : {"", " ", "{", "[1,]", "{\"a\":1,}", "[1 2]", "01", "-", "1.", ".5", "1e", "+1", "tru", "nul",
                          "\"abc", "\"\\x\"", "\"\\u12\"", "\"\\ud800\"", "\"\\udc00\"", "\"\\ud800\\u0041\"",
                          "\"a\tb\"", "{1:2}", "{\"a\" 1}", "[1] x", "\xef\xbb\xbf{}", "NaN", "Infinity", "'a'",
                          "9223372036854775808", "-9223372036854775809", "1e400"}) {
    CAPTURE(std::string(bad));
    CHECK(code_of(bad) == errc::json_malformed);
  }
  CHECK(code_of(std::string_view("[1]\0", 4)) == errc::json_malformed);  // a NUL after the value
}

TEST_CASE("json_parse: invalid UTF-8 in strings is refused") {
  for (const char* bad : {"\"\x80\"", "\"\xc0\xaf\"", "\"\xe0\x80\xaf\"", "\"\xed\xa0\x80\"", "\"\xf4\x90\x80\x80\"",
                          "\"\xc3\"", "\"\xf8\x88\x80\x80\x80\""}) {
    CHECK(code_of(bad) == errc::json_malformed);
  }
  CHECK(code_of("\"\xf4\x8f\xbf\xbf\"") == errc::ok);  // U+10FFFF
  CHECK(detail::valid_utf8("\xe2\x82\xac"));
  CHECK_FALSE(detail::valid_utf8("\xe2\x82"));
}

TEST_CASE("json_parse: duplicate keys are refused, also when spelled with escapes") {
  CHECK(code_of(R"({"a": 1, "a": 2})") == errc::json_duplicate_key);
  CHECK(code_of(R"({"a": 1, "\u0061": 2})") == errc::json_duplicate_key);
  CHECK(code_of(R"({"a": {"b": 1}, "c": {"b": 2}})") == errc::ok);
  auto r = parse_json(R"({"x": 1, "x": 2})");
  CHECK(r.error_value().offset == 9);
}

TEST_CASE("json_parse: limits") {
  limits lim;
  lim.max_json_depth = 3;
  CHECK(code_of("[[[1]]]", lim) == errc::ok);
  CHECK(code_of("[[[[1]]]]", lim) == errc::limit_exceeded);
  CHECK(parse_json("[[[[1]]]]", lim).error_value().message.find("max_json_depth") != std::string::npos);
  lim = {};
  lim.max_json_values = 4;
  CHECK(code_of("[1,2,3]", lim) == errc::ok);
  CHECK(code_of("[1,2,3,4]", lim) == errc::limit_exceeded);
  lim = {};
  lim.max_json_bytes = 5;
  CHECK(code_of("[1,2]", lim) == errc::ok);
  CHECK(code_of("[1,22]", lim) == errc::limit_exceeded);
  // The default depth holds back a stack-exhausting nest.
  CHECK(code_of(std::string(100000, '['), {}) == errc::limit_exceeded);
}
