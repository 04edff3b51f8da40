// Python's key semantics for dict keys and set items, as the restricted machine needs them:
// which values are hashable, a hash consistent with equality (1 == 1.0 == True; tuples by
// items; tensors by identity) and a budgeted equality. Kept apart from the opcode loop.
#include "pickle/keys.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>

#include "util/keyed_hash.hpp"
#include "util/numbers.hpp"

namespace pthsafe::detail {
namespace {

using va = value_access;

std::uint64_t mix(std::uint64_t h) noexcept {
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ULL;
  return h ^ (h >> 33);
}
// Leaves are hashed with the process-keyed SipHash: a file cannot choose keys that collide
// (ints inverted through an unkeyed mixer made a 90,000-key dict cost 21 s). `mix` only
// combines hashes that are already keyed, and spreads them over index slots.
std::uint64_t hash_text(std::string_view s, std::uint64_t tag) noexcept { return keyed_hash(s, tag); }
bool is_numeric(value_kind k) noexcept {
  return k == value_kind::boolean || k == value_kind::integer || k == value_kind::floating || k == value_kind::complex;
}
bool is_tuple_like(value_kind k) noexcept { return k == value_kind::tuple || k == value_kind::size; }

// A numeric value as Python compares it. Big values (ints beyond int64, and floats with an
// integer value beyond it) are their minimal two's complement bytes: a big int node keeps that
// form (text opcodes' ints are converted when pushed), so comparing and hashing cost one pass
// over the bytes and never a decimal conversion (quadratic: 93 s for 20,000 compares).
struct num {
  bool big = false;
  std::string_view bytes;  // big: minimal two's complement, little-endian
  std::string own;         // big floats: storage for `bytes`
  bool integral = false;
  std::int64_t i = 0;
  double re = 0, im = 0;
};
// Reads the payload fields directly (the kind is switched on here): the public accessors check
// their precondition and may throw, which hashing and comparison (noexcept) must never do.
void as_num(const value& v, num& n) noexcept {
  value& node = const_cast<value&>(v);
  switch (v.kind()) {
    case value_kind::boolean: n.integral = true; n.i = va::small(node) != 0; break;
    case value_kind::integer:
      if (v.fits_int64()) { n.integral = true; n.i = va::i(node); break; }
      n.big = true;
      if (va::small(const_cast<value&>(v)) & flag_int_raw) {
        n.bytes = v.text();
      } else {  // decimal text (push_int never makes one; kept exact for any other builder)
        n.own = le_bytes_from_decimal(v.text());
        n.bytes = n.own;
      }
      break;
    case value_kind::floating: n.re = va::f(node); break;
    default: n.re = va::f(node); n.im = va::g(node); break;
  }
  // A float with an exact integer value compares (and hashes) as that int: int64 directly,
  // beyond it through its exact two's complement bytes (as a big int would).
  if (!n.big && !n.integral && n.im == 0 && std::isfinite(n.re) && std::trunc(n.re) == n.re) {
    if (n.re >= -9223372036854775808.0 && n.re < 9223372036854775808.0) {
      n.integral = true;
      n.i = static_cast<std::int64_t>(n.re);
    } else {
      n.big = true;
      n.own = le_bytes_from_integral_double(n.re);
      n.bytes = n.own;
    }
  }
  // 0.0 == -0.0: hash and compare the parts without the sign of zero.
  if (n.re == 0) n.re = 0.0;
  if (n.im == 0) n.im = 0.0;
}
// What comparing two numbers costs the key budget beyond its one unit: a big int's bytes, 64
// to the unit, so that equal big keys compared again and again stay linear in the file.
std::uint64_t big_cost(const num& x, const num& y) noexcept {
  return (std::max(x.bytes.size(), y.bytes.size())) / 64;
}

}  // namespace

namespace {
// Hashes of ints, str and bytes are kept in their node's f_ (unused by those kinds), as tuples'
// are: a key used again and again (a memo GET per SETITEM) is hashed once, not once per use
// (SipHash over a 1 MiB string per 4-byte SETITEM otherwise).
bool hash_cacheable(value_kind k) noexcept {
  return k == value_kind::integer || k == value_kind::string || k == value_kind::bytes;
}
std::uint64_t leaf_hash(const value& v) noexcept {
  const auto k = v.kind();
  if (is_numeric(k)) {
    num n;
    as_num(v, n);
    if (n.big) return hash_text(n.bytes, 3);
    if (n.integral) return keyed_hash_u64(static_cast<std::uint64_t>(n.i), 4);
    if (std::isnan(n.re)) return mix(reinterpret_cast<std::uintptr_t>(&v));
    siphash13 h(5);
    h.add_u64(std::bit_cast<std::uint64_t>(n.re));
    h.add_u64(std::bit_cast<std::uint64_t>(n.im));
    return h.finish();
  }
  return hash_text(v.text(), k == value_kind::string ? 1 : 2);
}
}  // namespace

std::uint64_t key_hash(const value& v) noexcept {
  const auto k = v.kind();
  if (is_numeric(k) || k == value_kind::string || k == value_kind::bytes) {
    if (!hash_cacheable(k)) return leaf_hash(v);
    value& node = const_cast<value&>(v);
    if (value_access::small(node) & flag_hash_cached) return std::bit_cast<std::uint64_t>(value_access::f(node));
    const std::uint64_t h = leaf_hash(v);
    value_access::f(node) = std::bit_cast<double>(h);
    value_access::small(node) |= flag_hash_cached;
    return h;
  }
  switch (k) {
    case value_kind::none: return 0x5bd1e995u;
    case value_kind::tuple:
    case value_kind::size:
    case value_kind::frozenset: {
      value& node = const_cast<value&>(v);
      if (value_access::small(node) & flag_hash_cached) return std::bit_cast<std::uint64_t>(value_access::f(node));
      std::uint64_t h;
      if (k == value_kind::frozenset) {
        h = 0x9e3779b9;
        for (const value* it : v.items()) h += key_hash(*it);
        h = mix(h);
      } else {
        h = 0x345678;
        for (const value* it : v.items()) h = mix(h * 1000003u ^ key_hash(*it));
      }
      value_access::f(node) = std::bit_cast<double>(h);  // f_ is unused by these kinds
      value_access::small(node) |= flag_hash_cached;
      return h;
    }
    case value_kind::dtype: case value_kind::device: case value_kind::layout:
    case value_kind::qscheme: case value_kind::global:
      return hash_text(v.text(), 10 + static_cast<std::uint64_t>(k));
    default: return mix(reinterpret_cast<std::uintptr_t>(&v));
  }
}

namespace {
// A frozenset's items as (key hash, item) pairs sorted by hash, kept in its otherwise unused
// text_ when the machine builds it (charged then): comparing two frozensets is then one merge
// walk, where each comparison used to allocate and sort a copy (3.3 s for 5 MB of repeats).
struct sorted_view {
  const char* data = nullptr;
  std::size_t count = 0;
  std::pair<std::uint64_t, const value*> at(std::size_t i) const noexcept {
    std::pair<std::uint64_t, const value*> e;
    std::memcpy(&e.first, data + 16 * i, 8);
    std::memcpy(&e.second, data + 16 * i + 8, slot_bytes);
    return e;
  }
};
static_assert(slot_bytes <= 8);
sorted_view sorted_items(const value& v) noexcept { return {v.text().data(), v.text().size() / 16}; }
bool sorted_equal(const sorted_view& a, const sorted_view& b, std::uint64_t& budget) noexcept;
}  // namespace

bool keys_equal(const value& a, const value& b, std::uint64_t& budget) noexcept {
  // Charged before the identity shortcut: ((x,)*n,)*m against an equal copy makes n*m calls
  // that each end there.
  if (budget == 0) return false;
  --budget;
  if (&a == &b) return true;
  const auto ka = a.kind(), kb = b.kind();
  if (is_numeric(ka) && is_numeric(kb)) {
    num x, y;
    as_num(a, x);
    as_num(b, y);
    if (x.big || y.big) {
      if (!x.big || !y.big) return false;
      const std::uint64_t cost = big_cost(x, y);
      if (budget < cost) { budget = 0; return false; }
      budget -= cost;
      return x.bytes == y.bytes;
    }
    if (x.im != y.im) return false;
    if (x.integral && y.integral) return x.i == y.i;
    if (x.integral || y.integral) return false;  // an integral value never equals a non-integral one
    return x.re == y.re;                          // NaN != NaN unless the same object
  }
  if (is_tuple_like(ka) && is_tuple_like(kb)) {
    if (a.items().size() != b.items().size() || key_hash(a) != key_hash(b)) return false;
    for (std::size_t i = 0; i < a.items().size(); ++i)
      if (!keys_equal(*a.items()[i], *b.items()[i], budget)) return false;
    return true;
  }
  if (ka != kb) return false;
  switch (ka) {
    case value_kind::none: return true;
    case value_kind::string: case value_kind::bytes: {
      // Long equal strings compared again and again cost their length each time: charged.
      const std::uint64_t cost = std::max(a.text().size(), b.text().size()) / 64;
      if (budget < cost) { budget = 0; return false; }
      budget -= cost;
      return a.text() == b.text();
    }
    case value_kind::dtype: case value_kind::device:
    case value_kind::layout: case value_kind::qscheme: case value_kind::global:
      return a.text() == b.text();
    case value_kind::frozenset: {
      if (a.items().size() != b.items().size() || key_hash(a) != key_hash(b)) return false;
      // A pass over both sets' items costs more than a unit (a tuple item's comparison): each
      // item is a cache miss on two nodes in hash order (the fallback also sorts a copy), so it
      // is charged 6 units an item up front. At 1 unit, 16 Mi units of repeats took 3.3 s.
      const std::uint64_t pass = 6 * static_cast<std::uint64_t>(a.items().size());
      if (budget < pass) { budget = 0; return false; }
      budget -= pass;
      // Items are unique within each set: equal sizes and every item of a found in b suffice.
      // Large sets look items up by hash so that comparing two sets stays linear.
      if (a.items().size() <= 8) {
        for (const value* x : a.items()) {
          bool found = false;
          for (const value* y : b.items())
            if (keys_equal(*x, *y, budget)) { found = true; break; }
          if (!found) return false;
        }
        return true;
      }
      if (const auto sa = sorted_items(a), sb = sorted_items(b); sa.count == a.items().size() && sb.count == b.items().size())
        return sorted_equal(sa, sb, budget);
      // A sorted array (16 bytes an item) rather than a node-based multimap (about 48): the
      // comparison is transient memory that the tree budget does not see.
      std::vector<std::pair<std::uint64_t, const value*>> by_hash;
      by_hash.reserve(b.items().size());
      for (const value* y : b.items()) by_hash.emplace_back(key_hash(*y), y);
      std::sort(by_hash.begin(), by_hash.end(), [](const auto& l, const auto& r) { return l.first < r.first; });
      for (const value* x : a.items()) {
        const std::uint64_t h = key_hash(*x);
        auto it = std::lower_bound(by_hash.begin(), by_hash.end(), h, [](const auto& e, std::uint64_t k) { return e.first < k; });
        bool found = false;
        for (; it != by_hash.end() && it->first == h && !found; ++it) found = keys_equal(*x, *it->second, budget);
        if (!found) return false;
      }
      return true;
    }
    default: return false;
  }
}

namespace {
bool sorted_equal(const sorted_view& a, const sorted_view& b, std::uint64_t& budget) noexcept {
  // Equal items hash equal, so equal sets have the same hash runs; within a run (one item,
  // unless hashes collide by chance: they are keyed) every item of a must be found in b.
  std::size_t i = 0;
  while (i < a.count) {
    const std::uint64_t h = a.at(i).first;
    std::size_t ie = i;
    while (ie < a.count && a.at(ie).first == h) ++ie;
    if (b.at(i).first != h) return false;
    std::size_t je = i;
    while (je < b.count && b.at(je).first == h) ++je;
    if (je != ie) return false;
    for (std::size_t x = i; x < ie; ++x) {
      bool found = false;
      for (std::size_t y = i; y < ie && !found; ++y) found = keys_equal(*a.at(x).second, *b.at(y).second, budget);
      if (!found) return false;
    }
    i = ie;
  }
  return true;
}
}  // namespace

}  // namespace pthsafe::detail
