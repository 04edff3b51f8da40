// The node behind a save_value (private to the writer).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "pthsafe/save.hpp"

namespace pthsafe {

struct save_value::node {
  kind k = kind::none;
  bool b = false;
  std::int64_t i = 0;
  double d = 0;
  std::string s;
  std::vector<save_value> items;       // list/tuple items; dicts: key, value, key, value, ...
  std::unique_ptr<save_value> state;   // ordered_dict attributes (BUILD)
  save_tensor t;
  // Object identity, for trees made from a loaded checkpoint: nodes with the same `ident` are
  // one Python object, pickled once and fetched from the memo afterwards (as torch.save's
  // pickler does for every str, tuple, list, dict and tensor it meets again). A `ref` node is
  // such a later occurrence: it carries only its kind and identity.
  const void* ident = nullptr;
  bool ref = false;

  node() = default;
  node(const node& o) : k(o.k), b(o.b), i(o.i), d(o.d), s(o.s), items(o.items), t(o.t), ident(o.ident), ref(o.ref) {
    if (o.state) state = std::make_unique<save_value>(*o.state);
  }
  node& operator=(const node&) = delete;
};

struct save_access {
  using node = save_value::node;
  /// Deeper trees are refused (save_unsupported) rather than recursed into: Python's own
  /// pickler stops near its recursion limit of 1000 too.
  static constexpr int max_depth = 1000;

  static std::unique_ptr<save_value::node> make(save_value::kind k) {
    auto n = std::make_unique<save_value::node>();
    n->k = k;
    return n;
  }
  static save_value container(save_value::kind k) {
    save_value v;
    v.n_ = make(k);
    return v;
  }
  static const save_value::node* get(const save_value& v) noexcept { return v.n_.get(); }
  static save_value::node* get(save_value& v) noexcept { return v.n_.get(); }
};

}  // namespace pthsafe
