// verify_saved(): a file read back compared with the tree that was written, node by node.
#include <algorithm>
#include <bit>
#include <cstring>
#include <functional>
#include <string>

#include "pthsafe/save.hpp"
#include "pthsafe/tensor.hpp"
#include "pthsafe/value.hpp"
#include "util/try.hpp"
#include "write/save_node.hpp"

namespace pthsafe {
namespace {

using kind = save_value::kind;
using release_fn = std::function<void(std::span<const std::byte>)>;

error differ(const std::string& path, const std::string& what) {
  return make_error(errc::save_verify_mismatch, (path.empty() ? std::string("<root>") : path) + ": " + what);
}

result<void> same_tensor(const save_tensor& s, const tensor_view& t, const std::string& path, const release_fn& consumed) {
  if (t.element_type() != s.type) return differ(path, "dtype differs");
  if (!std::equal(t.shape().begin(), t.shape().end(), s.shape.begin(), s.shape.end())) return differ(path, "shape differs");
  if (!s.stride.empty() && !std::equal(t.strides().begin(), t.strides().end(), s.stride.begin(), s.stride.end())) {
    return differ(path, "strides differ");
  }
  if (t.storage_offset() != s.storage_offset) return differ(path, "storage offset differs");
  if (t.requires_grad() != s.requires_grad) return differ(path, "requires_grad differs");
  if (t.is_parameter() != s.parameter) return differ(path, "Parameter differs");
  if (!t.has_storage()) return differ(path, "no storage");
  const auto bytes = t.storage().bytes();
  if (bytes.size() != s.storage.size()) return differ(path, "storage sizes differ");
  for (std::size_t done = 0; done < bytes.size();) {
    const std::size_t n = std::min<std::size_t>(bytes.size() - done, std::size_t{64} << 20);
    if (std::memcmp(bytes.data() + done, s.storage.data() + done, n) != 0) return differ(path, "storage bytes differ");
    if (consumed) {
      consumed(bytes.subspan(done, n));
      consumed(s.storage.subspan(done, n));
    }
    done += n;
  }
  return {};
}

value_kind loaded_kind(kind k) noexcept {
  switch (k) {
    case kind::none: return value_kind::none;
    case kind::boolean: return value_kind::boolean;
    case kind::integer: return value_kind::integer;
    case kind::floating: return value_kind::floating;
    case kind::string: return value_kind::string;
    case kind::list: return value_kind::list;
    case kind::tuple: return value_kind::tuple;
    case kind::dict: return value_kind::dict;
    case kind::ordered_dict: return value_kind::ordered_dict;
    case kind::tensor: return value_kind::tensor;
  }
  return value_kind::none;
}

result<void> same(const save_value& s, const value& v, const std::string& path, const release_fn& consumed) {
  const auto* n = save_access::get(s);
  // A later occurrence of a shared object was compared in full at its first occurrence.
  if (n != nullptr && n->ref) return v.is(loaded_kind(s.type())) ? result<void>{} : differ(path, "kind differs");
  switch (s.type()) {
    case kind::none: return v.is(value_kind::none) ? result<void>{} : differ(path, "expected None");
    case kind::boolean:
      return v.is(value_kind::boolean) && v.as_bool() == n->b ? result<void>{} : differ(path, "bool differs");
    case kind::integer:
      return v.fits_int64() && v.as_int64() == n->i ? result<void>{} : differ(path, "int differs");
    case kind::floating: {
      if (!v.is(value_kind::floating)) return differ(path, "expected a float");
      // Bits, not values: -0.0 and 0.0 differ, a NaN equals itself.
      return std::bit_cast<std::uint64_t>(v.as_double()) == std::bit_cast<std::uint64_t>(n->d) ? result<void>{}
                                                                                              : differ(path, "float differs");
    }
    case kind::string:
      return v.is(value_kind::string) && v.text() == n->s ? result<void>{} : differ(path, "str differs");
    case kind::tensor:
      if (!v.is(value_kind::tensor)) return differ(path, "expected a tensor");
      return same_tensor(n->t, v.as_tensor(), path, consumed);
    case kind::list:
    case kind::tuple:
    case kind::dict:
    case kind::ordered_dict: {
      if (!v.is(loaded_kind(s.type()))) return differ(path, "container kind differs");
      const auto items = v.items();
      if (items.size() != n->items.size()) return differ(path, "length differs");
      for (std::size_t i = 0; i < items.size(); ++i) {
        PTHSAFE_TRY(same(n->items[i], *items[i], path + "/" + std::to_string(i), consumed));
      }
      const auto attrs = v.attrs();
      if (n->state) {
        const auto* st = save_access::get(*n->state);
        if (attrs.size() * 2 != st->items.size()) return differ(path, "OrderedDict attributes differ");
        for (std::size_t i = 0; i < attrs.size(); ++i) {
          const auto& key = st->items[2 * i];
          if (key.type() != kind::string || save_access::get(key)->s != attrs[i].first) {
            return differ(path, "OrderedDict attribute names differ");
          }
          PTHSAFE_TRY(same(st->items[2 * i + 1], *attrs[i].second, path + "/." + std::string(attrs[i].first), consumed));
        }
      } else if (!attrs.empty()) {
        return differ(path, "unexpected attributes");
      }
      return {};
    }
  }
  return differ(path, "unknown kind");
}

}  // namespace

result<void> verify_saved(const save_value& saved, const value& loaded, const release_fn& consumed) {
  return same(saved, loaded, "", consumed);
}

}  // namespace pthsafe
