// A minimal streaming JSON writer (compact output, UTF-8 strings, shortest round-trip doubles).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace pthsafe::detail {

class json_writer {
 public:
  json_writer& begin_object();
  json_writer& end_object();
  json_writer& begin_array();
  json_writer& end_array();
  json_writer& key(std::string_view k);
  json_writer& str(std::string_view s);
  json_writer& num(std::int64_t v);
  json_writer& num(std::uint64_t v);
  /// Finite doubles as the shortest round-trip number; NaN and infinities as "nan"/"inf"/"-inf".
  json_writer& real(double v);
  json_writer& boolean(bool b);
  json_writer& null();
  const std::string& text() const noexcept { return out_; }
  std::string take() { return std::move(out_); }

 private:
  void sep();
  std::string out_;
  std::vector<bool> first_;  // per open container: no element written yet
  bool after_key_ = false;
};

/// Appends `s` as a JSON string literal. Bytes that are not UTF-8 (and encoded surrogates)
/// are escaped as \uXXXX of the code point or byte.
void append_json_string(std::string& out, std::string_view s);

}  // namespace pthsafe::detail
