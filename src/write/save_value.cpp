// save_value: the owning tree the writer walks, and its construction from a loaded checkpoint.
#include <unordered_set>
#include <utility>

#include "pthsafe/save.hpp"
#include "pthsafe/tensor.hpp"
#include "pthsafe/value.hpp"
#include "util/try.hpp"
#include "write/save_node.hpp"

namespace pthsafe {

save_value::save_value() noexcept = default;
save_value::save_value(std::nullptr_t) noexcept {}
save_value::save_value(bool b) : n_(save_access::make(kind::boolean)) { n_->b = b; }
save_value::save_value(int i) : save_value(static_cast<std::int64_t>(i)) {}
save_value::save_value(std::int64_t i) : n_(save_access::make(kind::integer)) { n_->i = i; }
save_value::save_value(double d) : n_(save_access::make(kind::floating)) { n_->d = d; }
save_value::save_value(std::string s) : n_(std::make_unique<node>()) {
  n_->k = kind::string;
  n_->s = std::move(s);
}
save_value::save_value(const char* s) : save_value(std::string(s == nullptr ? "" : s)) {}
save_value::save_value(save_tensor t) : n_(std::make_unique<node>()) {
  n_->k = kind::tensor;
  n_->t = std::move(t);
}
save_value::save_value(const save_value& other) : n_(other.n_ ? std::make_unique<node>(*other.n_) : nullptr) {}
save_value::save_value(save_value&& other) noexcept = default;
save_value& save_value::operator=(const save_value& other) {
  if (this != &other) n_ = other.n_ ? std::make_unique<node>(*other.n_) : nullptr;
  return *this;
}
save_value& save_value::operator=(save_value&& other) noexcept = default;
save_value::~save_value() = default;

save_value save_value::list() { return save_access::container(kind::list); }
save_value save_value::tuple() { return save_access::container(kind::tuple); }
save_value save_value::dict() { return save_access::container(kind::dict); }
save_value save_value::ordered_dict() { return save_access::container(kind::ordered_dict); }

save_value::kind save_value::type() const noexcept { return n_ ? n_->k : kind::none; }

save_value& save_value::append(save_value item) {
  detail::require(type() == kind::list || type() == kind::tuple, "save_value::append(): requires a list or tuple");
  n_->items.push_back(std::move(item));
  return *this;
}

save_value& save_value::set(save_value key, save_value item) {
  detail::require(type() == kind::dict || type() == kind::ordered_dict, "save_value::set(): requires a dict or ordered_dict");
  n_->items.push_back(std::move(key));
  n_->items.push_back(std::move(item));
  return *this;
}

save_value& save_value::set_state(save_value state) {
  detail::require(type() == kind::ordered_dict, "save_value::set_state(): requires an ordered_dict");
  detail::require(state.type() == kind::dict, "save_value::set_state(): the state must be a dict");
  n_->state = std::make_unique<save_value>(std::move(state));
  return *this;
}

result<save_value> save_value::from(const tensor_view& t) {
  PTHSAFE_ASSIGN(auto st, save_tensor_from(t));
  return save_value(std::move(st));
}

result<save_tensor> save_tensor_from(const tensor_view& t) {
  const auto refuse = [](const char* why) { return make_error(errc::save_unsupported, why); };
  if (t.is_sparse()) return refuse("a sparse tensor (only dense tensors are written)");
  if (t.is_quantized()) return refuse("a quantized tensor (only dense tensors are written)");
  if (!t.subclass().empty()) return refuse("a tensor subclass without storage");
  if (t.is_conj() || t.is_neg()) return refuse("a tensor with its conjugate or negative bit set");
  if (!t.has_storage()) return refuse("a tensor without storage (meta)");
  const storage_view st = t.storage();
  if (st.nbytes() != 0 && st.bytes().empty()) return refuse("a tensor whose bytes were not loaded (metadata mode)");
  save_tensor out;
  out.type = t.element_type();
  out.shape.assign(t.shape().begin(), t.shape().end());
  out.stride.assign(t.strides().begin(), t.strides().end());
  out.storage_offset = t.storage_offset();
  out.storage = st.bytes();
  out.requires_grad = t.requires_grad();
  out.parameter = t.is_parameter();
  return out;
}

namespace {

bool is_object(value_kind k) noexcept {
  switch (k) {
    case value_kind::string:
    case value_kind::list:
    case value_kind::tuple:
    case value_kind::dict:
    case value_kind::ordered_dict:
    case value_kind::tensor: return true;
    default: return false;
  }
}

// Loaded values the pickle reached more than once (through the memo) are one node; the first
// occurrence is converted in full and tagged with the node's address, later ones become refs,
// so a file of shared references converts in time linear in its nodes.
using seen_set = std::unordered_set<const value*>;

result<save_value> convert(const value& v, int depth, seen_set& seen);
result<save_value> convert_object(const value& v, int depth, seen_set& seen);

result<save_value> convert_child(const value& v, int depth, seen_set& seen) {
  return is_object(v.kind()) ? convert_object(v, depth, seen) : convert(v, depth, seen);
}

result<save_value> convert_object(const value& v, int depth, seen_set& seen) {
  if (!seen.insert(&v).second) {
    save_value r = save_access::container(save_value::kind::none);
    auto* n = save_access::get(r);
    n->ident = &v;
    n->ref = true;
    switch (v.kind()) {
      case value_kind::string:  // keeps its text: dict keys are compared by it
        n->k = save_value::kind::string;
        n->s = std::string(v.text());
        break;
      case value_kind::list: n->k = save_value::kind::list; break;
      case value_kind::tuple: n->k = save_value::kind::tuple; break;
      case value_kind::dict: n->k = save_value::kind::dict; break;
      case value_kind::ordered_dict: n->k = save_value::kind::ordered_dict; break;
      default: n->k = save_value::kind::tensor; break;
    }
    // An empty tuple is never memoized (pickle writes EMPTY_TUPLE each time): a full copy.
    if (v.kind() == value_kind::tuple && v.items().empty()) return save_value::tuple();
    return r;
  }
  PTHSAFE_ASSIGN(auto out, convert(v, depth, seen));
  save_access::get(out)->ident = &v;
  return out;
}

result<save_value> convert(const value& v, int depth, seen_set& seen) {
  if (depth > save_access::max_depth) return make_error(errc::save_unsupported, "nesting deeper than the writer allows");
  const auto refuse = [](const std::string& what) {
    return make_error(errc::save_unsupported, "cannot write " + what + " as torch.save would");
  };
  switch (v.kind()) {
    case value_kind::none: return save_value();
    case value_kind::boolean: return save_value(v.as_bool());
    case value_kind::integer:
      if (!v.fits_int64()) return refuse("an int beyond int64");
      return save_value(v.as_int64());
    case value_kind::floating: return save_value(v.as_double());
    case value_kind::string: return save_value(std::string(v.text()));
    case value_kind::tensor: return save_value::from(v.as_tensor());
    case value_kind::list:
    case value_kind::tuple: {
      save_value out = v.kind() == value_kind::list ? save_value::list() : save_value::tuple();
      for (const value* item : v.items()) {
        PTHSAFE_ASSIGN(auto c, convert_child(*item, depth + 1, seen));
        out.append(std::move(c));
      }
      return out;
    }
    case value_kind::dict:
    case value_kind::ordered_dict: {
      if (!v.dict_class().empty()) return refuse("a " + std::string(v.dict_class()));
      const bool ordered = v.kind() == value_kind::ordered_dict;
      save_value out = ordered ? save_value::ordered_dict() : save_value::dict();
      const auto items = v.items();
      for (std::size_t i = 0; i + 1 < items.size(); i += 2) {
        PTHSAFE_ASSIGN(auto k, convert_child(*items[i], depth + 1, seen));
        PTHSAFE_ASSIGN(auto x, convert_child(*items[i + 1], depth + 1, seen));
        out.set(std::move(k), std::move(x));
      }
      if (ordered && !v.attrs().empty()) {
        save_value state = save_value::dict();
        for (const value_attr& a : v.attrs()) {
          PTHSAFE_ASSIGN(auto x, convert_child(*a.second, depth + 1, seen));
          state.set(std::string(a.first), std::move(x));
        }
        out.set_state(std::move(state));
      }
      if (!ordered && !v.attrs().empty()) return refuse("a dict with attributes");
      return out;
    }
    default: break;
  }
  return refuse(std::string("a value of kind ") + std::string(value_kind_name(v.kind())));
}

}  // namespace

result<save_value> save_value::from(const value& v) {
  seen_set seen;
  return convert_child(v, 0, seen);
}

}  // namespace pthsafe
