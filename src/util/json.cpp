#include "util/json.hpp"

#include <charconv>
#include <cmath>
#include <cstdio>

namespace pthsafe::detail {

void append_json_string(std::string& out, std::string_view s) {
  out.push_back('"');
  char buf[8];
  for (std::size_t i = 0; i < s.size();) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == '"' || c == '\\') { out.push_back('\\'); out.push_back(static_cast<char>(c)); ++i; continue; }
    if (c < 0x20) {
      switch (c) {
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        case '\b': out += "\\b"; break;
        case '\f': out += "\\f"; break;
        default: std::snprintf(buf, sizeof buf, "\\u%04x", c); out += buf;
      }
      ++i;
      continue;
    }
    // Encoded surrogates (ED A0..BF xx) are valid Python strings but not UTF-8: escape them.
    if (c == 0xed && i + 2 < s.size() && (static_cast<unsigned char>(s[i + 1]) & 0xe0) == 0xa0) {
      const unsigned cp = 0xd000u | ((static_cast<unsigned char>(s[i + 1]) & 0x3fu) << 6) | (static_cast<unsigned char>(s[i + 2]) & 0x3fu);
      std::snprintf(buf, sizeof buf, "\\u%04x", cp);
      out += buf;
      i += 3;
      continue;
    }
    out.push_back(static_cast<char>(c));
    ++i;
  }
  out.push_back('"');
}

void json_writer::sep() {
  if (after_key_) { after_key_ = false; return; }
  if (!first_.empty()) {
    if (!first_.back()) out_.push_back(',');
    first_.back() = false;
  }
}
json_writer& json_writer::begin_object() { sep(); out_.push_back('{'); first_.push_back(true); return *this; }
json_writer& json_writer::end_object() { out_.push_back('}'); first_.pop_back(); return *this; }
json_writer& json_writer::begin_array() { sep(); out_.push_back('['); first_.push_back(true); return *this; }
json_writer& json_writer::end_array() { out_.push_back(']'); first_.pop_back(); return *this; }
json_writer& json_writer::key(std::string_view k) {
  sep();
  append_json_string(out_, k);
  out_.push_back(':');
  after_key_ = true;
  return *this;
}
json_writer& json_writer::str(std::string_view s) { sep(); append_json_string(out_, s); return *this; }
json_writer& json_writer::num(std::int64_t v) { sep(); out_ += std::to_string(v); return *this; }
json_writer& json_writer::num(std::uint64_t v) { sep(); out_ += std::to_string(v); return *this; }
json_writer& json_writer::real(double v) {
  if (std::isnan(v)) return str("nan");
  if (std::isinf(v)) return str(v > 0 ? "inf" : "-inf");
  sep();
  char buf[32];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  out_.append(buf, r.ptr);
  return *this;
}
json_writer& json_writer::boolean(bool b) { sep(); out_ += b ? "true" : "false"; return *this; }
json_writer& json_writer::null() { sep(); out_ += "null"; return *this; }

}  // namespace pthsafe::detail
