// Recursive descent over RFC 8259's grammar; recursion depth is bounded by max_json_depth and
// every value is counted against max_json_values before it is stored.
#include "util/json_parse.hpp"

#include <charconv>
#include <cmath>
#include <string>
#include <system_error>
#include <unordered_set>

#include "util/keyed_hash.hpp"

namespace pthsafe::detail {

const json_value* json_value::find(std::string_view key) const noexcept {
  if (kind != json_kind::object) return nullptr;
  for (std::size_t i = 0; i < keys.size(); ++i)
    if (keys[i] == key) return &items[i];
  return nullptr;
}

namespace {

// Length of the UTF-8 sequence starting at s[i], 0 when it is not a valid one (Unicode 15,
// table 3-7: the well-formed byte sequences).
std::size_t utf8_sequence(std::string_view s, std::size_t i) noexcept {
  const auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = b(i);
  if (c < 0x80) return 1;
  std::size_t n = 0;
  unsigned char lo = 0x80, hi = 0xbf;
  if (c >= 0xc2 && c <= 0xdf) n = 2;
  else if (c == 0xe0) { n = 3; lo = 0xa0; }
  else if ((c >= 0xe1 && c <= 0xec) || c == 0xee || c == 0xef) n = 3;
  else if (c == 0xed) { n = 3; hi = 0x9f; }  // no surrogates
  else if (c == 0xf0) { n = 4; lo = 0x90; }
  else if (c >= 0xf1 && c <= 0xf3) n = 4;
  else if (c == 0xf4) { n = 4; hi = 0x8f; }  // nothing past U+10FFFF
  else return 0;
  if (s.size() - i < n) return 0;
  if (b(i + 1) < lo || b(i + 1) > hi) return 0;
  for (std::size_t k = 2; k < n; ++k)
    if (b(i + k) < 0x80 || b(i + k) > 0xbf) return 0;
  return n;
}

void append_utf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xc0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xe0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else {
    out += static_cast<char>(0xf0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  }
}

class parser {
 public:
  parser(std::string_view text, const limits& lim) : s_(text), lim_(lim) {}

  result<json_value> run() {
    json_value v;
    skip_ws();
    if (!value(v, 0)) return std::move(err_);
    skip_ws();
    if (pos_ != s_.size()) return fail(errc::json_malformed, "bytes after the JSON value");
    return v;
  }

 private:
  error fail(errc code, std::string msg) {
    err_ = make_error(code, std::move(msg), {}, pos_);
    return err_;
  }
  bool failed(errc code, std::string msg) {
    fail(code, std::move(msg));
    return false;
  }
  void skip_ws() noexcept {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r')) ++pos_;
  }
  bool literal(std::string_view word) {
    if (s_.substr(pos_, word.size()) != word) return failed(errc::json_malformed, "invalid literal");
    pos_ += word.size();
    return true;
  }
  bool count_value() {
    if (++values_ > lim_.max_json_values)
      return failed(errc::limit_exceeded, "more JSON values than max_json_values (" + std::to_string(lim_.max_json_values) + ")");
    return true;
  }

  bool value(json_value& v, std::uint32_t depth) {
    if (!count_value()) return false;
    if (pos_ >= s_.size()) return failed(errc::json_malformed, "a value is missing");
    switch (s_[pos_]) {
      case '{': return object(v, depth + 1);
      case '[': return array(v, depth + 1);
      case '"': v.kind = json_kind::string; return string(v.text);
      case 't': v.kind = json_kind::boolean; v.boolean = true; return literal("true");
      case 'f': v.kind = json_kind::boolean; return literal("false");
      case 'n': v.kind = json_kind::null; return literal("null");
      default: return number(v);
    }
  }

  bool enter(std::uint32_t depth) {
    if (depth > lim_.max_json_depth)
      return failed(errc::limit_exceeded, "JSON nested deeper than max_json_depth (" + std::to_string(lim_.max_json_depth) + ")");
    ++pos_;
    skip_ws();
    return true;
  }

  bool array(json_value& v, std::uint32_t depth) {
    v.kind = json_kind::array;
    if (!enter(depth)) return false;
    if (pos_ < s_.size() && s_[pos_] == ']') { ++pos_; return true; }
    for (;;) {
      json_value& item = v.items.emplace_back();
      if (!value(item, depth)) return false;
      skip_ws();
      if (pos_ < s_.size() && s_[pos_] == ',') { ++pos_; skip_ws(); continue; }
      if (pos_ < s_.size() && s_[pos_] == ']') { ++pos_; return true; }
      return failed(errc::json_malformed, "expected ',' or ']' in an array");
    }
  }

  bool object(json_value& v, std::uint32_t depth) {
    v.kind = json_kind::object;
    if (!enter(depth)) return false;
    if (pos_ < s_.size() && s_[pos_] == '}') { ++pos_; return true; }
    std::unordered_set<std::string, keyed_string_hash, std::equal_to<>> seen;
    for (;;) {
      if (pos_ >= s_.size() || s_[pos_] != '"') return failed(errc::json_malformed, "expected a string key in an object");
      const std::size_t key_at = pos_;
      std::string& key = v.keys.emplace_back();
      if (!string(key)) return false;
      if (!seen.insert(key).second) {
        pos_ = key_at;
        return failed(errc::json_duplicate_key, "duplicate object key \"" + key + "\"");
      }
      skip_ws();
      if (pos_ >= s_.size() || s_[pos_] != ':') return failed(errc::json_malformed, "expected ':' after an object key");
      ++pos_;
      skip_ws();
      json_value& item = v.items.emplace_back();
      if (!value(item, depth)) return false;
      skip_ws();
      if (pos_ < s_.size() && s_[pos_] == ',') { ++pos_; skip_ws(); continue; }
      if (pos_ < s_.size() && s_[pos_] == '}') { ++pos_; return true; }
      return failed(errc::json_malformed, "expected ',' or '}' in an object");
    }
  }

  bool hex4(std::uint32_t& out) {
    if (s_.size() - pos_ < 4) return failed(errc::json_malformed, "truncated \\u escape");
    out = 0;
    for (int k = 0; k < 4; ++k) {
      const char c = s_[pos_++];
      std::uint32_t d;
      if (c >= '0' && c <= '9') d = static_cast<std::uint32_t>(c - '0');
      else if (c >= 'a' && c <= 'f') d = static_cast<std::uint32_t>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F') d = static_cast<std::uint32_t>(c - 'A' + 10);
      else return failed(errc::json_malformed, "invalid hex digit in a \\u escape");
      out = out * 16 + d;
    }
    return true;
  }

  bool string(std::string& out) {
    ++pos_;  // the opening quote
    for (;;) {
      if (pos_ >= s_.size()) return failed(errc::json_malformed, "unterminated string");
      const auto c = static_cast<unsigned char>(s_[pos_]);
      if (c == '"') { ++pos_; return true; }
      if (c < 0x20) return failed(errc::json_malformed, "control character in a string");
      if (c == '\\') {
        if (++pos_ >= s_.size()) return failed(errc::json_malformed, "unterminated escape");
        const char e = s_[pos_++];
        switch (e) {
          case '"': out += '"'; break;
          case '\\': out += '\\'; break;
          case '/': out += '/'; break;
          case 'b': out += '\b'; break;
          case 'f': out += '\f'; break;
          case 'n': out += '\n'; break;
          case 'r': out += '\r'; break;
          case 't': out += '\t'; break;
          case 'u': {
            std::uint32_t cp = 0;
            if (!hex4(cp)) return false;
            if (cp >= 0xdc00 && cp <= 0xdfff) return failed(errc::json_malformed, "lone low surrogate in a \\u escape");
            if (cp >= 0xd800 && cp <= 0xdbff) {
              std::uint32_t lo = 0;
              if (s_.substr(pos_, 2) != "\\u") return failed(errc::json_malformed, "lone high surrogate in a \\u escape");
              pos_ += 2;
              if (!hex4(lo)) return false;
              if (lo < 0xdc00 || lo > 0xdfff) return failed(errc::json_malformed, "high surrogate not followed by a low one");
              cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            }
            append_utf8(out, cp);
            break;
          }
          default: --pos_; return failed(errc::json_malformed, "invalid escape");
        }
        continue;
      }
      const std::size_t n = utf8_sequence(s_, pos_);
      if (n == 0) return failed(errc::json_malformed, "invalid UTF-8 in a string");
      out.append(s_.substr(pos_, n));
      pos_ += n;
    }
  }

  bool number(json_value& v) {
    const std::size_t start = pos_;
    const auto digit = [&] { return pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9'; };
    if (pos_ < s_.size() && s_[pos_] == '-') ++pos_;
    if (!digit()) return failed(errc::json_malformed, "invalid value");
    if (s_[pos_] == '0') {
      ++pos_;
      if (digit()) return failed(errc::json_malformed, "leading zero in a number");
    } else {
      while (digit()) ++pos_;
    }
    bool integral = true;
    if (pos_ < s_.size() && s_[pos_] == '.') {
      integral = false;
      ++pos_;
      if (!digit()) return failed(errc::json_malformed, "no digit after '.' in a number");
      while (digit()) ++pos_;
    }
    if (pos_ < s_.size() && (s_[pos_] == 'e' || s_[pos_] == 'E')) {
      integral = false;
      ++pos_;
      if (pos_ < s_.size() && (s_[pos_] == '+' || s_[pos_] == '-')) ++pos_;
      if (!digit()) return failed(errc::json_malformed, "no digit in a number's exponent");
      while (digit()) ++pos_;
    }
    const char* first = s_.data() + start;
    const char* last = s_.data() + pos_;
    if (integral) {
      v.kind = json_kind::integer;
      const auto r = std::from_chars(first, last, v.integer);
      if (r.ec != std::errc() || r.ptr != last) {
        pos_ = start;
        return failed(errc::json_malformed, "integer beyond int64");
      }
      return true;
    }
    v.kind = json_kind::real;
    const auto r = std::from_chars(first, last, v.real);
    if (r.ec != std::errc() || r.ptr != last || !std::isfinite(v.real)) {
      pos_ = start;
      return failed(errc::json_malformed, "number beyond the range of a double");
    }
    return true;
  }

  std::string_view s_;
  const limits& lim_;
  std::size_t pos_ = 0;
  std::uint64_t values_ = 0;
  error err_;
};

}  // namespace

bool valid_utf8(std::string_view s) noexcept {
  for (std::size_t i = 0; i < s.size();) {
    const std::size_t n = utf8_sequence(s, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

result<json_value> parse_json(std::string_view text, const limits& lim) {
  if (text.size() > lim.max_json_bytes)
    return make_error(errc::limit_exceeded, "JSON text of " + std::to_string(text.size()) + " bytes is over max_json_bytes (" +
                                                std::to_string(lim.max_json_bytes) + ")");
  return parser(text, lim).run();
}

}  // namespace pthsafe::detail
