// reference_from_manifest: the JSON a C++ service writes about its model,
// {"name": {"dtype": "float32", "shape": [64, 32]}, ...}, read by the strict JSON reader.
#include <string>

#include "pthsafe/match.hpp"
#include "util/json_parse.hpp"
#include "util/try.hpp"

namespace pthsafe {

namespace {

error invalid(const std::string& name, std::string_view what) {
  return make_error(errc::manifest_invalid, "manifest entry \"" + name + "\": " + std::string(what));
}

}  // namespace

result<reference> reference_from_manifest(std::string_view json_text, const limits& lim) {
  PTHSAFE_ASSIGN(const detail::json_value doc, detail::parse_json(json_text, lim));
  if (doc.kind != detail::json_kind::object)
    return make_error(errc::manifest_invalid, "a manifest is a JSON object of name -> {\"dtype\", \"shape\"}");
  reference ref;
  ref.entries.reserve(doc.items.size());
  for (std::size_t i = 0; i < doc.items.size(); ++i) {
    const std::string& name = doc.keys[i];
    const detail::json_value& spec = doc.items[i];
    if (spec.kind != detail::json_kind::object) return invalid(name, "not an object");
    for (const std::string& k : spec.keys)
      if (k != "dtype" && k != "shape") return invalid(name, "unknown member \"" + k + "\" (only dtype and shape)");
    const detail::json_value* dt = spec.find("dtype");
    const detail::json_value* shape = spec.find("shape");
    if (!dt || dt->kind != detail::json_kind::string) return invalid(name, "dtype must be a string");
    if (!shape || shape->kind != detail::json_kind::array) return invalid(name, "shape must be an array");
    const auto type = dtype_from_name(dt->text);
    if (!type) return invalid(name, "unknown dtype \"" + dt->text + "\"");
    if (shape->items.size() > lim.max_dims) return invalid(name, "more dimensions than max_dims");
    reference_entry e{name, *type, {}};
    e.shape.reserve(shape->items.size());
    for (const auto& d : shape->items) {
      if (d.kind != detail::json_kind::integer || d.integer < 0) return invalid(name, "shape entries must be integers >= 0");
      e.shape.push_back(d.integer);
    }
    ref.entries.push_back(std::move(e));
  }
  return ref;
}

}  // namespace pthsafe
