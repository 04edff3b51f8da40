// The state_dict inside a checkpoint (include/pthsafe/state_dict.hpp): a read-only view of the
// loaded tree, so it sits above load and needs nothing from the layers below but the model.
#include "pthsafe/state_dict.hpp"

#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "util/keyed_hash.hpp"

namespace pthsafe {

bool is_state_dict(const value& v) noexcept {
  if (v.kind() != value_kind::dict && v.kind() != value_kind::ordered_dict) return false;
  const auto items = v.items();
  if (items.empty()) return false;
  for (std::size_t i = 0; i + 1 < items.size(); i += 2)
    if (items[i]->kind() != value_kind::string || items[i + 1]->kind() != value_kind::tensor) return false;
  return true;
}

namespace {

// torch's _metadata: an OrderedDict of module prefix -> {"version": int, ...}. Renaming follows
// consume_prefix_in_state_dict_if_present: a key equal to the prefix without its dots, or
// starting with the prefix, loses len(prefix) characters and replaces any entry of that name
// (Python: `metadata[newkey] = metadata.pop(key)`, which appends it at the end).
void read_versions(const value& dict, std::string_view prefix, state_dict& out) {
  const value* meta = nullptr;
  for (const auto& [name, v] : dict.attrs())
    if (name == "_metadata") meta = v;
  if (!meta || (meta->kind() != value_kind::ordered_dict && meta->kind() != value_kind::dict)) return;
  out.has_metadata = true;
  std::string undotted;
  for (char c : prefix)
    if (c != '.') undotted += c;
  // key -> its slot in `slots` (a renamed key takes a new slot at the end, as in Python).
  std::unordered_map<std::string, std::size_t, detail::keyed_string_hash, std::equal_to<>> where;
  std::vector<std::pair<std::string, std::optional<std::int64_t>>> slots;
  const auto items = meta->items();
  for (std::size_t i = 0; i + 1 < items.size(); i += 2) {
    if (items[i]->kind() != value_kind::string) continue;
    std::string key(items[i]->text());
    const value* version = items[i + 1]->find("version");
    std::optional<std::int64_t> v;
    if (version && version->fits_int64()) v = version->as_int64();
    if (!prefix.empty() && !key.empty() && (key == undotted || key.starts_with(prefix)))
      key = key.size() >= prefix.size() ? key.substr(prefix.size()) : std::string();
    where.insert_or_assign(key, slots.size());
    slots.emplace_back(std::move(key), v);
  }
  for (std::size_t i = 0; i < slots.size(); ++i) {
    auto& [key, v] = slots[i];
    if (v && where.find(key)->second == i) out.versions.emplace_back(std::move(key), *v);  // the last slot of its key
  }
}

}  // namespace

result<state_dict> find_state_dict(const checkpoint& ck, const state_dict_options& opts) {
  state_dict out;
  const value* chosen = nullptr;
  if (!opts.key.empty()) {
    auto v = ck.find(opts.key);
    if (!v) return v.error_value();
    if (!is_state_dict(**v))
      return make_error(errc::type_mismatch, "key '" + opts.key + "' holds a " + std::string(value_kind_name((*v)->kind())) +
                                                 ", not a dict of names to tensors");
    chosen = *v;
    out.key = opts.key;
  } else if (is_state_dict(ck.root())) {
    chosen = &ck.root();
  } else {
    for (std::string_view k : state_dict_keys) {
      const value* v = ck.root().find(k);
      if (v && is_state_dict(*v)) {
        chosen = v;
        out.key = std::string(k);
        break;
      }
    }
    if (!chosen)
      return make_error(errc::not_found, "no state_dict: neither the root nor any of model, state_dict, "
                                         "model_state_dict, module, net, ema, model_ema maps names to tensors");
  }
  const auto items = chosen->items();
  out.entries.reserve(items.size() / 2);
  // Names already taken, and the original key each came from (a collision names both).
  std::unordered_map<std::string_view, std::string_view, detail::keyed_string_hash, std::equal_to<>> seen;
  seen.reserve(items.size() / 2);
  for (std::size_t i = 0; i + 1 < items.size(); i += 2) {
    const std::string_view original = items[i]->text();
    std::string_view name = original;
    if (!opts.strip_prefix.empty() && name.starts_with(opts.strip_prefix)) {
      name.remove_prefix(opts.strip_prefix.size());
      ++out.stripped;
    }
    const auto [it, fresh] = seen.emplace(name, original);
    if (!fresh)
      return make_error(errc::state_dict_key_collision, "keys '" + std::string(it->second) + "' and '" + std::string(original) +
                                                            "' are both '" + std::string(name) + "' after stripping '" +
                                                            opts.strip_prefix + "'");
    out.entries.push_back({name, items[i + 1]->as_tensor()});
  }
  read_versions(*chosen, opts.strip_prefix, out);
  return out;
}

}  // namespace pthsafe
