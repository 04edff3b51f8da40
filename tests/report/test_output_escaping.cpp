// Output a hostile file controls (policy "Output", src/util/escape.hpp): names with ESC, CR, DEL,
// C1 and bidirectional controls, bytes that are not UTF-8, overlong forms and surrogates, through
// every printer the library has (text escaping, error::to_string, JSON strings, inspect_json,
// scan_report_json, sarif_log), with the exact bytes expected; and JSON floats that always carry
// a '.' or an exponent.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdlib>
#include <limits>
#include <string>
#include <string_view>

#include "pickle/text.hpp"
#include "pthsafe/report.hpp"
#include "pthsafe/pthsafe.hpp"
#include "support/pickle_builder.hpp"
#include "util/escape.hpp"
#include "util/json.hpp"

using pthsafe::errc;
using namespace std::string_literals;

namespace {

// Hostile spellings, each with its exact text and JSON forms.
struct spelling {
  const char* what;
  std::string in, text, json;
};
const spelling spellings[] = {
    {"ESC[2J (clear screen)", "a\x1b[2Jb", "a\\x1b[2Jb", "\"a\\u001b[2Jb\""},
    {"CR, LF, TAB", "x\r\n\ty", "x\\x0d\\x0a\\x09y", "\"x\\r\\n\\ty\""},
    {"NUL, BEL, BS, FF, US", "\0\a\b\f\x1f"s, "\\x00\\x07\\x08\\x0c\\x1f", "\"\\u0000\\u0007\\b\\f\\u001f\""},
    {"DEL", "a\x7f", "a\\x7f", "\"a\\u007f\""},
    {"C1 CSI and NEL, as UTF-8", "\xc2\x9b" "2J\xc2\x85", "\\u009b2J\\u0085", "\"\\u009b2J\\u0085\""},
    {"C1 CSI as a lone byte", "\x9b" "2J", "\\x9b2J", "\"\\udc9b2J\""},
    {"bytes that start nothing", "\xff\xfe", "\\xff\\xfe", "\"\\udcff\\udcfe\""},
    {"overlong '/' (2 bytes)", "\xc0\xaf", "\\xc0\\xaf", "\"\\udcc0\\udcaf\""},
    {"overlong '/' (3 bytes)", "\xe0\x80\xaf", "\\xe0\\x80\\xaf", "\"\\udce0\\udc80\\udcaf\""},
    {"overlong '/' (4 bytes)", "\xf0\x80\x80\xaf", "\\xf0\\x80\\x80\\xaf", "\"\\udcf0\\udc80\\udc80\\udcaf\""},
    {"overlong NUL", "\xc0\x80", "\\xc0\\x80", "\"\\udcc0\\udc80\""},
    {"above U+10FFFF", "\xf4\x90\x80\x80", "\\xf4\\x90\\x80\\x80", "\"\\udcf4\\udc90\\udc80\\udc80\""},
    {"truncated sequence", "\xe2\x82", "\\xe2\\x82", "\"\\udce2\\udc82\""},
    {"lone continuation bytes", "\x80\xbf", "\\x80\\xbf", "\"\\udc80\\udcbf\""},
    {"encoded surrogates (pickle surrogatepass)", "\xed\xa0\x80\xed\xbf\xbf", "\\ud800\\udfff", "\"\\ud800\\udfff\""},
    {"RLO and PDI (Trojan Source)", "ab\xe2\x80\xae" "cd\xe2\x81\xa9", "ab\\u202ecd\\u2069", "\"ab\\u202ecd\\u2069\""},
    {"LRM, RLM, ALM", "\xe2\x80\x8e\xe2\x80\x8f\xd8\x9c", "\\u200e\\u200f\\u061c", "\"\\u200e\\u200f\\u061c\""},
    {"line and paragraph separators", "\xe2\x80\xa8\xe2\x80\xa9", "\\u2028\\u2029", "\"\\u2028\\u2029\""},
    {"backslash and quote", "a\\x1b\"", "a\\\\x1b\"", "\"a\\\\x1b\\\"\""},
    {"valid UTF-8 is kept", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xef\xbf\xbf", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xef\xbf\xbf",
     "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xef\xbf\xbf\""},
};

// An independent reading of the output: strict UTF-8, and none of the code points policy says
// must not reach a terminal raw (C0, DEL, C1, surrogates, bidi, separators).
bool printable(std::string_view s) {
  if (!pthsafe::detail::valid_utf8(s, false)) return false;
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7f) return false;
    if (c == 0xc2 && i + 1 < s.size() && static_cast<unsigned char>(s[i + 1]) <= 0x9f) return false;  // C1
    const std::string_view rest = s.substr(i);
    for (std::string_view bad : {"\xe2\x80\x8e", "\xe2\x80\x8f", "\xd8\x9c", "\xe2\x80\xa8", "\xe2\x80\xa9", "\xe2\x80\xaa",
                                 "\xe2\x80\xab", "\xe2\x80\xac", "\xe2\x80\xad", "\xe2\x80\xae", "\xe2\x81\xa6", "\xe2\x81\xa7",
                                 "\xe2\x81\xa8", "\xe2\x81\xa9"})
      if (rest.substr(0, bad.size()) == bad) return false;
    ++i;
  }
  return true;
}

std::string json_of(std::string_view s) {
  std::string out;
  pthsafe::detail::append_json_string(out, s);
  return out;
}

std::string double_text(double v) {
  std::string out;
  pthsafe::detail::append_double(out, v);
  return out;
}

}  // namespace

TEST_CASE("text escaping: exact output for every hostile spelling") {
  for (const auto& s : spellings) {
    CAPTURE(s.what);
    CHECK(pthsafe::detail::text_escape(s.in) == s.text);
    CHECK(printable(pthsafe::detail::text_escape(s.in)));
  }
}

TEST_CASE("JSON strings: exact output, always valid UTF-8 with no raw control") {
  for (const auto& s : spellings) {
    CAPTURE(s.what);
    CHECK(json_of(s.in) == s.json);
    CHECK(printable(json_of(s.in)));
  }
}

TEST_CASE("every byte string of up to 2 bytes, and a sample of 3, escapes to printable text and JSON") {
  std::string s;
  for (int a = 0; a < 256; ++a) {
    for (int b = -1; b < 256; ++b) {
      s.assign(1, static_cast<char>(a));
      if (b >= 0) s.push_back(static_cast<char>(b));
      for (int c : {-1, 0x80, 0x9b, 0xbf}) {
        std::string t = s;
        if (c >= 0) t.push_back(static_cast<char>(c));
        const std::string text = pthsafe::detail::text_escape(t), json = json_of(t);
        if (!printable(text) || !printable(json)) FAIL_CHECK("not printable: bytes " << a << " " << b << " " << c);
      }
    }
  }
}

TEST_CASE("utf8_prefix never cuts a sequence") {
  CHECK(pthsafe::detail::utf8_prefix("abc", 2) == 2);
  CHECK(pthsafe::detail::utf8_prefix("ab\xe2\x82\xac", 4) == 2);
  CHECK(pthsafe::detail::utf8_prefix("ab\xe2\x82\xac", 5) == 5);
  CHECK(pthsafe::detail::utf8_prefix("ab\xff\xff", 3) == 3);  // a stray byte is a unit of its own
}

TEST_CASE("error::to_string escapes the record and the message") {
  const pthsafe::error e{errc::zip_bad_name, "arch\x1b[2J\xff/data.pkl", 7, "name 'x\xc2\x9b\xe2\x80\xae' \\ end"};
  CHECK(e.to_string() == "arch\\x1b[2J\\xff/data.pkl@7: zip_bad_name: name 'x\\u009b\\u202e' \\\\ end");
  const pthsafe::error plain{errc::pickle_global_refused, "", 0, "os.system"};
  CHECK(plain.to_string() == "pickle_global_refused: os.system");
}

TEST_CASE("JSON doubles: shortest round trip, always with '.' or an exponent") {
  const struct { double v; const char* text; } cases[] = {
      {1.0, "1.0"}, {-0.0, "-0.0"}, {0.0, "0.0"}, {100.0, "100.0"}, {-2.5, "-2.5"}, {0.1, "0.1"},
      {1e300, "1e+300"}, {1e5, "1e+05"}, {1e-7, "1e-07"}, {123456789.0, "123456789.0"},
      {5e-324, "5e-324"}, {1.7976931348623157e308, "1.7976931348623157e+308"}, {2.0 / 3.0, "0.6666666666666666"},
      {std::numeric_limits<double>::quiet_NaN(), "nan"}, {std::numeric_limits<double>::infinity(), "inf"},
      {-std::numeric_limits<double>::infinity(), "-inf"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.text);
    const std::string t = double_text(c.v);
    CHECK(t == c.text);
    if (std::isfinite(c.v)) {
      const double back = std::strtod(t.c_str(), nullptr);
      CHECK(back == c.v);
      CHECK(std::signbit(back) == std::signbit(c.v));
    }
  }
  pthsafe::detail::json_writer w;
  w.begin_array().real(1.0).real(-0.0).real(std::numeric_limits<double>::quiet_NaN()).real(-1e-300).end_array();
  CHECK(w.text() == "[1.0,-0.0,\"nan\",-1e-300]");
}

TEST_CASE("inspect_json of a pickle whose keys and values are hostile strings, and floats") {
  using namespace pthsafe_test;
  pickle_writer p;
  p.proto(2).empty_dict().mark();
  p.binunicode("a\x1b[2J").binunicode("\xc2\x9b" "31m\x7f");
  p.binunicode("\xed\xa0\x80\xe2\x80\xae").binfloat(-0.0);
  p.binunicode("one").binfloat(1.0);
  p.binunicode("big").binfloat(1e300);
  p.setitems().stop();
  const bytes b = p.take();
  auto ck = pthsafe::checkpoint::open_buffer(b);
  REQUIRE_MESSAGE(ck, ck.error_value().to_string());
  auto doc = pthsafe::inspect_json(*ck);
  REQUIRE(doc);
  CHECK(*doc ==
        "{\"format\":\"pickle\",\"byteorder\":\"little\",\"root\":{\"type\":\"dict\",\"items\":["
        "[{\"type\":\"str\",\"value\":\"a\\u001b[2J\"},{\"type\":\"str\",\"value\":\"\\u009b31m\\u007f\"}],"
        "[{\"type\":\"str\",\"value\":\"\\ud800\\u202e\"},{\"type\":\"float\",\"value\":-0.0}],"
        "[{\"type\":\"str\",\"value\":\"one\"},{\"type\":\"float\",\"value\":1.0}],"
        "[{\"type\":\"str\",\"value\":\"big\"},{\"type\":\"float\",\"value\":1e+300}]]}}");
  CHECK(printable(*doc));
}

TEST_CASE("scan_report_json and sarif_log stay valid UTF-8 with hostile records, subjects, messages and paths") {
  pthsafe::scan_report r;
  r.verdict = pthsafe::verdict::unsafe;
  r.format = "zip";
  r.findings.push_back({"pickle_global_refused", pthsafe::severity::error, "arch\x1b[2J/data.pkl", 12,
                        "os\xff.sys\xc0\xaftem", "global 'os\xff.sys\xc0\xaftem' \xe2\x80\xae refused"});
  const std::string path = "dir/\x1b]0;title\x07\xfe.pt";
  const std::string json = pthsafe::scan_report_json(path, r);
  CHECK(printable(json));
  CHECK(json ==
        "{\"file\":\"dir/\\u001b]0;title\\u0007\\udcfe.pt\",\"verdict\":\"unsafe\",\"format\":\"zip\",\"findings\":["
        "{\"rule\":\"pickle_global_refused\",\"severity\":\"error\",\"record\":\"arch\\u001b[2J/data.pkl\",\"offset\":12,"
        "\"subject\":\"os\\udcff.sys\\udcc0\\udcaftem\",\"message\":\"global 'os\\udcff.sys\\udcc0\\udcaftem' \\u202e refused\"}]}");
  const std::string sarif = pthsafe::sarif_log({{path, r}});
  CHECK(printable(sarif));
  CHECK(sarif.find("\"uri\":\"dir/\\u001b]0;title\\u0007\\udcfe.pt\"") != std::string::npos);
  CHECK(sarif.find("\"text\":\"global 'os\\udcff.sys\\udcc0\\udcaftem' \\u202e refused [os\\udcff.sys\\udcc0\\udcaftem] "
                   "(record arch\\u001b[2J/data.pkl)\"") != std::string::npos);
  CHECK(sarif.find("\"name\":\"arch\\u001b[2J/data.pkl\"") != std::string::npos);
}
