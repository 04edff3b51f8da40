// match_state_dict: torch's Module.load_state_dict (torch/nn/modules/module.py, load() and
// _load_from_state_dict; identical in 1.13 and 2.x for what is decided here) over a module tree
// inferred from the reference's dotted names.
//
// torch visits modules in preorder (children in registration order). At each module with
// prefix P it appends to missing_keys the local names (parameters, then persistent buffers)
// whose P+name is absent, then P+"_extra_state" if the module defines set_extra_state and the
// key is absent; to unexpected_keys first P+"_extra_state" if present and the module does not
// define set_extra_state, then, in the checkpoint's order, every key under P whose first
// component after P is a child module name (with more components following) or a local name
// neither. Size mismatches are appended to error_msgs in local order. Each checkpoint key is
// therefore judged by exactly one module: the deepest one whose children its components name.
#include "pthsafe/match.hpp"

#include <algorithm>
#include <cstring>
#include <optional>
#include <string>
#include <unordered_map>

#include "util/keyed_hash.hpp"

namespace pthsafe {

reference reference_from_state_dict(const state_dict& sd) {
  reference ref;
  ref.entries.reserve(sd.entries.size());
  for (const auto& e : sd.entries) {
    const auto shape = e.tensor.shape();
    ref.entries.push_back({std::string(e.name), e.tensor.element_type(), {shape.begin(), shape.end()}});
  }
  return ref;
}

reference reference_from_safetensors(const safetensors_file& file) {
  reference ref;
  ref.entries.reserve(file.tensors().size());
  for (const auto& t : file.tensors()) ref.entries.push_back({t.name, t.type, t.shape});
  return ref;
}

namespace {

constexpr std::string_view extra_state_name = "_extra_state";

struct module_node {
  std::vector<std::size_t> children;  // module indices, registration (first appearance) order
  std::vector<std::size_t> locals;    // reference entry indices, reference order
  std::optional<std::size_t> extra_state;  // the reference entry of P + "_extra_state"
  std::size_t prefix_len = 0;         // P's length ("" for the root, "a.b." has 4)
  std::string_view prefix_source;     // a name that starts with P
  std::vector<std::size_t> unexpected;    // checkpoint entry indices, checkpoint order
  std::optional<std::size_t> unexpected_extra;  // P + "_extra_state" when it is not expected
};

// (module index, name) -> index: children by component, locals by name. Keyed by the index's
// bytes followed by the name, so a name of n components costs O(n) to walk, never O(n^2).
using scoped_map = std::unordered_map<std::string, std::size_t, detail::keyed_string_hash, std::equal_to<>>;

std::string scoped_key(std::size_t scope, std::string_view name) {
  std::string k(sizeof scope, '\0');
  std::memcpy(k.data(), &scope, sizeof scope);
  k.append(name);
  return k;
}

class module_tree {
 public:
  explicit module_tree(const reference& ref) : ref_(ref) {
    nodes_.emplace_back();
    for (std::size_t r = 0; r < ref.entries.size(); ++r) add(r);
  }

  const module_node& node(std::size_t i) const { return nodes_[i]; }
  module_node& node(std::size_t i) { return nodes_[i]; }

  std::optional<std::size_t> child(std::size_t m, std::string_view component) const {
    const auto it = children_.find(scoped_key(m, component));
    if (it == children_.end()) return std::nullopt;
    return it->second;
  }
  bool has_local(std::size_t m, std::string_view name) const { return locals_.contains(scoped_key(m, name)); }

  // The module a checkpoint key is judged by, and whether it is expected there.
  void judge(std::string_view key, std::size_t entry) {
    std::size_t m = 0, pos = 0;
    for (;;) {
      const std::string_view rest = key.substr(pos);
      const auto dot = rest.find('.');
      if (dot == std::string_view::npos) {
        module_node& n = nodes_[m];
        if (rest == extra_state_name) {
          if (!n.extra_state) n.unexpected_extra = entry;
        } else if (!has_local(m, rest)) {
          n.unexpected.push_back(entry);
        }
        return;
      }
      const auto c = child(m, rest.substr(0, dot));
      if (!c) {
        nodes_[m].unexpected.push_back(entry);
        return;
      }
      m = *c;
      pos += dot + 1;
    }
  }

  std::size_t size() const noexcept { return nodes_.size(); }

 private:
  void add(std::size_t r) {
    const std::string_view name = ref_.entries[r].name;
    std::size_t m = 0, pos = 0;
    for (;;) {
      const std::string_view rest = name.substr(pos);
      const auto dot = rest.find('.');
      if (dot == std::string_view::npos) break;
      auto [it, fresh] = children_.emplace(scoped_key(m, rest.substr(0, dot)), nodes_.size());
      if (fresh) {
        nodes_[m].children.push_back(nodes_.size());
        module_node n;
        n.prefix_len = pos + dot + 1;
        n.prefix_source = name;
        nodes_.push_back(std::move(n));
      }
      m = it->second;
      pos += dot + 1;
    }
    const std::string_view local = name.substr(pos);
    if (local == extra_state_name) {
      nodes_[m].extra_state = r;
    } else if (locals_.emplace(scoped_key(m, local), r).second) {
      nodes_[m].locals.push_back(r);
    }
  }

  const reference& ref_;
  std::vector<module_node> nodes_;
  scoped_map children_;
  scoped_map locals_;
};

bool same_shape(std::span<const std::int64_t> a, const std::vector<std::int64_t>& b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end());
}

// _NormBase._load_from_state_dict (BatchNorm, SyncBatchNorm, InstanceNorm with running stats):
// before version 2 of its state_dict format, a missing num_batches_tracked is filled in, so it
// is never reported missing. A module is taken for one when it has the three running buffers.
bool norm_with_running_stats(const module_tree& t, std::size_t m) {
  return t.has_local(m, "running_mean") && t.has_local(m, "running_var") && t.has_local(m, "num_batches_tracked");
}

}  // namespace

match_report match_state_dict(const state_dict& sd, const reference& ref, const match_options& opts) {
  match_report out;
  out.strict = opts.strict;
  module_tree tree(ref);

  std::unordered_map<std::string_view, std::size_t, detail::keyed_string_hash, std::equal_to<>> by_name;
  by_name.reserve(sd.entries.size());
  for (std::size_t i = 0; i < sd.entries.size(); ++i) {
    by_name.emplace(sd.entries[i].name, i);
    tree.judge(sd.entries[i].name, i);
  }
  std::unordered_map<std::string_view, std::int64_t, detail::keyed_string_hash, std::equal_to<>> versions;
  for (const auto& [prefix, v] : sd.versions) versions.insert_or_assign(prefix, v);

  // Preorder, children in registration order; an explicit stack (names may nest deeply).
  std::vector<std::size_t> stack{0};
  while (!stack.empty()) {
    const std::size_t m = stack.back();
    stack.pop_back();
    const module_node& n = tree.node(m);
    for (std::size_t r : n.locals) {
      const reference_entry& want = ref.entries[r];
      const auto it = by_name.find(want.name);
      if (it == by_name.end()) {
        const std::string_view local = std::string_view(want.name).substr(n.prefix_len);
        if (local == "num_batches_tracked" && norm_with_running_stats(tree, m)) {
          // local_metadata.get("version", None): the module's prefix without its final dot.
          const std::string_view key = n.prefix_len ? n.prefix_source.substr(0, n.prefix_len - 1) : std::string_view();
          const auto v = versions.find(key);
          if (v == versions.end() || v->second < 2) continue;
        }
        out.missing_keys.push_back(want.name);
        continue;
      }
      const tensor_view t = sd.entries[it->second].tensor;
      const auto have = t.shape();
      // Backward compatibility in torch (0.3 -> 0.4): a 0-d parameter takes input_param[0] of a
      // one-element 1-d tensor.
      const bool scalar_from_1d = want.shape.empty() && have.size() == 1 && have[0] == 1;
      if (!scalar_from_1d && !same_shape(have, want.shape)) {
        out.size_mismatches.push_back({want.name, {have.begin(), have.end()}, want.shape});
        continue;
      }
      if (t.element_type() != want.type) out.dtype_mismatches.push_back({want.name, t.element_type(), want.type});
    }
    if (n.extra_state) {
      const std::string& key = ref.entries[*n.extra_state].name;
      if (!by_name.contains(key)) out.missing_keys.push_back(key);
    }
    if (n.unexpected_extra) out.unexpected_keys.emplace_back(sd.entries[*n.unexpected_extra].name);
    for (std::size_t e : n.unexpected) out.unexpected_keys.emplace_back(sd.entries[e].name);
    for (auto c = n.children.rbegin(); c != n.children.rend(); ++c) stack.push_back(*c);
  }
  return out;
}

}  // namespace pthsafe
