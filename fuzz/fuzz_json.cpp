// The strict JSON reader and the two readers built on it (match manifests, safetensors headers).
// Invariants checked on every input: parsing never crashes or exceeds its limits; a text that
// parses has unique keys per object and valid UTF-8 in every string; a safetensors file that
// opens has tensors whose spans lie inside the input, touch end to end in offset order and
// cover the data section exactly. A violation traps, so libFuzzer reports it.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <set>
#include <span>
#include <string_view>
#include <vector>

#include "pthsafe/match.hpp"
#include "pthsafe/safetensors.hpp"
#include "util/json_parse.hpp"

namespace {

void check_tree(const pthsafe::detail::json_value& v) {
  if (v.kind == pthsafe::detail::json_kind::string && !pthsafe::detail::valid_utf8(v.text)) __builtin_trap();
  if (v.kind == pthsafe::detail::json_kind::object) {
    if (v.keys.size() != v.items.size()) __builtin_trap();
    std::set<std::string_view> keys;
    for (const auto& k : v.keys)
      if (!pthsafe::detail::valid_utf8(k) || !keys.insert(k).second) __builtin_trap();
  }
  for (const auto& c : v.items) check_tree(c);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  pthsafe::limits lim;
  lim.max_json_values = 1 << 16;
  lim.max_json_depth = 64;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (auto v = pthsafe::detail::parse_json(text, lim)) check_tree(*v);
  (void)pthsafe::reference_from_manifest(text, lim);

  const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
  auto st = pthsafe::safetensors_file::open_buffer(bytes, lim);
  if (!st) return 0;
  std::vector<const pthsafe::safetensors_tensor*> order;
  for (const auto& t : st->tensors()) {
    if (t.bytes.size() != t.end - t.begin) __builtin_trap();
    if (t.bytes.data() < bytes.data() || t.bytes.data() + t.bytes.size() > bytes.data() + bytes.size()) __builtin_trap();
    order.push_back(&t);
  }
  std::sort(order.begin(), order.end(), [](auto* a, auto* b) { return a->begin != b->begin ? a->begin < b->begin : a->end < b->end; });
  std::uint64_t at = 0;
  for (auto* t : order) {
    if (t->begin != at) __builtin_trap();
    at = t->end;
  }
  if (st->data_offset() + at != size) __builtin_trap();
  (void)pthsafe::reference_from_safetensors(*st);
  return 0;
}
