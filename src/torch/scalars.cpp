// The small value classes of the allowlist: builtins.complex, builtins.bytearray,
// _codecs.encode (how protocol 2 writes bytes), torch.Size, torch.device and
// torch.serialization._get_layout. Each builds a plain value; nothing is called.
#include <cstring>
#include <cctype>
#include <string_view>

#include "pickle/text.hpp"
#include "torch/arg_kinds.hpp"
#include "torch/rebuild.hpp"
#include "util/try.hpp"

namespace pthsafe::detail {
namespace {

using va = value_access;

constexpr std::string_view layouts[] = {"torch.strided", "torch.sparse_coo", "torch.sparse_csr", "torch.sparse_csc",
                                        "torch.sparse_bsr", "torch.sparse_bsc", "torch._mkldnn", "torch.jagged"};

}  // namespace

// torch device strings: "<type>" or "<type>:<index>", type lowercase identifier.
bool valid_device(std::string_view s) {
  if (s == "cpu") return true;  // nearly every storage's location: the answer the loops below give
  const auto colon = s.find(':');
  const std::string_view type = s.substr(0, colon);
  if (type.empty() || type.size() > 64) return false;
  for (char c : type)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  if (type[0] >= '0' && type[0] <= '9') return false;
  if (colon == std::string_view::npos) return true;
  const std::string_view idx = s.substr(colon + 1);
  if (idx.empty() || idx.size() > 9) return false;
  for (char c : idx)
    if (c < '0' || c > '9') return false;
  return !(idx.size() > 1 && idx[0] == '0');
}

result<value*> torch_rebuilder::call_complex(const call& c) {
  const auto a = c.args.items();
  const std::size_t n = a.size();
  if (n > 2) return fail(errc::bad_rebuild_args, "complex takes at most 2 arguments");
  double parts[2] = {0, 0};
  for (std::size_t i = 0; i < n; ++i) {
    const value& x = *a[i];
    if (x.kind() == value_kind::floating) parts[i] = x.as_double();
    else if (x.kind() == value_kind::boolean) parts[i] = x.as_bool();
    else if (is_int(x)) parts[i] = static_cast<double>(x.as_int64());
    else return fail(errc::bad_rebuild_args, "complex parts must be real numbers");
  }
  PTHSAFE_ASSIGN(value* v, alloc(value_kind::complex));
  va::f(*v) = parts[0];
  va::g(*v) = parts[1];
  return v;
}

result<value*> torch_rebuilder::call_size(const call& c) {
  const auto a = c.args.items();
  if (a.size() != 1 || !(is_seq(*a[0]) || a[0]->kind() == value_kind::size))
    return fail(errc::bad_rebuild_args, "torch.Size needs a sequence");
  for (const value* it : a[0]->items())
    if (!is_int(*it)) return fail(errc::bad_rebuild_args, "torch.Size items must be ints");
  if (!st_.charge(a[0]->items().size() * slot_bytes))
    return fail(errc::limit_exceeded, "limit max_tree_bytes (" + std::to_string(opts_.limits.max_tree_bytes) + ") exceeded");
  PTHSAFE_ASSIGN(value* v, alloc(value_kind::size));
  if (!va::set_items(st_.mem, *v, a[0]->items()))
    return fail(errc::limit_exceeded, "limit max_container_items (" + std::to_string(opts_.limits.max_container_items) + ") exceeded");
  return v;
}

result<value*> torch_rebuilder::call_device(const call& c) {
  const auto a = c.args.items();
  const std::size_t n = a.size();
  std::string text;
  if (n == 1 && a[0]->kind() == value_kind::string) {
    text = std::string(a[0]->text());
  } else if (n == 2 && a[0]->kind() == value_kind::string && is_int(*a[1]) && a[1]->as_int64() >= 0) {
    text = std::string(a[0]->text()) + ":" + std::to_string(a[1]->as_int64());
  } else {
    return fail(errc::bad_device, "torch.device needs (type[, index])");
  }
  if (!valid_device(text)) return fail(errc::bad_device, "invalid device '" + text + "'");
  PTHSAFE_ASSIGN(value* v, alloc(value_kind::device));
  va::set_text(st_.mem, *v, text);
  return v;
}

result<value*> torch_rebuilder::call_layout(const call& c) {
  const auto a = c.args.items();
  if (a.size() != 1 || a[0]->kind() != value_kind::string) return fail(errc::bad_rebuild_args, "_get_layout needs a name");
  for (auto l : layouts)
    if (l == a[0]->text()) {
      PTHSAFE_ASSIGN(value* v, alloc(value_kind::layout));
      va::share_text(*v, l);
      return v;
    }
  return fail(errc::bad_rebuild_args, "unknown layout '" + std::string(a[0]->text()) + "'");
}

result<value*> torch_rebuilder::call_encode(const call& c) {
  const auto a = c.args.items();
  const std::size_t n = a.size();
  if (n < 1 || n > 3 || a[0]->kind() != value_kind::string) return fail(errc::bad_rebuild_args, "_codecs.encode needs a str");
  std::string enc = n >= 2 && a[1]->kind() == value_kind::string ? std::string(a[1]->text()) : std::string("utf-8");
  if (n >= 2 && a[1]->kind() != value_kind::string) return fail(errc::bad_rebuild_args, "encoding is not a str");
  if (n == 3 && (a[2]->kind() != value_kind::string || a[2]->text() != "strict"))
    return fail(errc::unsupported_feature, "only strict encoding errors are supported");
  for (auto& ch : enc) ch = static_cast<char>(ch == '_' ? '-' : std::tolower(static_cast<unsigned char>(ch)));
  std::string out;
  const std::string_view s = a[0]->text();
  if (!st_.charge(s.size()))  // the encoded copy is never longer than the UTF-8 text
    return fail(errc::limit_exceeded, "limit max_tree_bytes (" + std::to_string(opts_.limits.max_tree_bytes) + ") exceeded");
  if (enc == "latin1" || enc == "latin-1" || enc == "iso-8859-1" || enc == "iso8859-1" || enc == "l1") {
    // Decode UTF-8 code points; each must fit one byte.
    for (std::size_t i = 0; i < s.size();) {
      const unsigned char ch = static_cast<unsigned char>(s[i]);
      if (ch < 0x80) { out.push_back(static_cast<char>(ch)); ++i; continue; }
      if ((ch & 0xe0) == 0xc0 && i + 1 < s.size()) {
        const unsigned cp = ((ch & 0x1fu) << 6) | (static_cast<unsigned char>(s[i + 1]) & 0x3fu);
        if (cp <= 0xff) { out.push_back(static_cast<char>(cp)); i += 2; continue; }
      }
      return fail(errc::bad_rebuild_args, "string cannot be encoded as latin-1");
    }
  } else if (enc == "utf-8" || enc == "utf8" || enc == "ascii") {
    if (!valid_utf8(s, false)) return fail(errc::bad_rebuild_args, "string holds lone surrogates");
    if (enc == "ascii")
      for (char ch : s)
        if (static_cast<unsigned char>(ch) >= 0x80) return fail(errc::bad_rebuild_args, "string is not ASCII");
    out.assign(s);
  } else {
    return fail(errc::unsupported_feature, "encoding '" + enc + "' is not supported");
  }
  PTHSAFE_ASSIGN(value* v, alloc(value_kind::bytes));
  va::set_text(st_.mem, *v, out);
  return v;
}

result<value*> torch_rebuilder::call_bytearray(const call& c) {
  const auto a = c.args.items();
  const std::size_t n = a.size();
  PTHSAFE_ASSIGN(value* v, alloc(value_kind::bytes));
  va::small(*v) = flag_bytearray;
  if (c.newobj || n == 0) return v;
  const value& src = *a[0];
  // bytearray(n) makes n bytes and bytearray(b) copies b: charged before they exist. From a
  // list of ints each item is charged a pointer's worth: the walk over them is the cost.
  const std::uint64_t made = n != 1                              ? 0
                             : src.kind() == value_kind::bytes   ? src.text().size()
                             : is_seq(src)                       ? src.items().size() * slot_bytes
                             : is_int(src) && src.as_int64() > 0 ? static_cast<std::uint64_t>(src.as_int64())
                                                                 : 0;
  if (made > opts_.limits.max_string_bytes)
    return fail(errc::limit_exceeded, "limit max_string_bytes (" + std::to_string(opts_.limits.max_string_bytes) + ") exceeded");
  if (!st_.charge(made))
    return fail(errc::limit_exceeded, "limit max_tree_bytes (" + std::to_string(opts_.limits.max_tree_bytes) + ") exceeded");
  if (n == 1 && src.kind() == value_kind::bytes) {
    va::set_text(st_.mem, *v, src.text());
  } else if (n == 1 && is_seq(src)) {
    std::string bytes;
    bytes.reserve(src.items().size());
    for (const value* it : src.items()) {
      if (!is_int(*it) || it->as_int64() < 0 || it->as_int64() > 255) return fail(errc::bad_rebuild_args, "bytearray items must be 0..255");
      bytes.push_back(static_cast<char>(it->as_int64()));
    }
    va::set_text(st_.mem, *v, bytes);
  } else if (n == 1 && is_int(src) && src.as_int64() >= 0) {
    if (static_cast<std::uint64_t>(src.as_int64()) > opts_.limits.max_string_bytes)
      return fail(errc::limit_exceeded, "limit max_string_bytes (" + std::to_string(opts_.limits.max_string_bytes) + ") exceeded");
    const auto len = static_cast<std::size_t>(src.as_int64());
    if (len) std::memset(va::make_text(st_.mem, *v, len), 0, len);
  } else {
    return fail(errc::unsupported_feature, "bytearray from these arguments is not supported");
  }
  return v;
}

}  // namespace pthsafe::detail
