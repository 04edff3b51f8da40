// A strict, bounded JSON reader (RFC 8259) for what pthsafe reads as JSON: match manifests and
// safetensors headers. Strict where readers differ: duplicate object keys, lone surrogate escapes,
// invalid UTF-8, a byte-order mark, integers beyond int64 and numbers out of double range are
// refused rather than resolved one way (serde_json, Python's json and others resolve them
// differently). Bounded by pthsafe::limits (max_json_bytes, max_json_values, max_json_depth).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "pthsafe/error.hpp"
#include "pthsafe/options.hpp"

namespace pthsafe::detail {

enum class json_kind : std::uint8_t { null, boolean, integer, real, string, array, object };

/// One parsed value. Objects keep their members in text order (keys[i] names items[i]).
struct json_value {
  json_kind kind = json_kind::null;
  bool boolean = false;
  std::int64_t integer = 0;  ///< integer: a number with no fraction or exponent, exact
  double real = 0;           ///< real: a number with a fraction or an exponent, correctly rounded
  std::string text;          ///< string: UTF-8
  std::vector<json_value> items;  ///< array elements / object values
  std::vector<std::string> keys;  ///< object keys, one per item

  /// The member named `key` of an object (keys are unique); null when absent or not an object.
  const json_value* find(std::string_view key) const noexcept;
};

/// Parses one JSON text (whitespace around the value allowed, nothing else). Errors:
/// limit_exceeded (text, value count or depth over the limits; message names the field),
/// json_duplicate_key, json_malformed; the error's offset is the byte where reading stopped.
result<json_value> parse_json(std::string_view text, const limits& lim = {});

/// Strict UTF-8 (no overlong forms, no surrogates, nothing past U+10FFFF).
bool valid_utf8(std::string_view s) noexcept;

}  // namespace pthsafe::detail
