#include "util/json.hpp"

#include <cmath>

#include "util/escape.hpp"

namespace pthsafe::detail {

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
  append_double(out_, v);
  return *this;
}
json_writer& json_writer::boolean(bool b) { sep(); out_ += b ? "true" : "false"; return *this; }
json_writer& json_writer::null() { sep(); out_ += "null"; return *this; }

}  // namespace pthsafe::detail
