// A minimal streaming JSON writer (compact output, UTF-8 strings, shortest round-trip doubles).
// Strings and doubles are written by util/escape.hpp (the one place output is escaped).
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
  /// Finite doubles as the shortest round-trip number, always with a '.' or an exponent
  /// (detail::append_double); NaN and infinities as the strings "nan"/"inf"/"-inf".
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

}  // namespace pthsafe::detail
