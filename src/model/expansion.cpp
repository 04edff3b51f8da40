#include "model/expansion.hpp"

#include <string>
#include <unordered_map>

namespace pthsafe::detail {
namespace {

// Counts values exactly as the JSON walker visits them (items, dict keys and values, object
// args and state, attributes), saturating at `cap`. Keys of the memo are node addresses, not
// file content, so no keyed hash is needed.
struct size {
  std::uint64_t values = 0, bytes = 0;
};

struct counter {
  size cap;
  std::unordered_map<const value*, size> memo;

  static std::uint64_t add(std::uint64_t a, std::uint64_t b, std::uint64_t cap) {
    return a >= cap || b >= cap - a ? cap : a + b;
  }
  void add(size& to, const size& s) const {
    to.values = add(to.values, s.values, cap.values);
    to.bytes = add(to.bytes, s.bytes, cap.bytes);
  }
  bool full(const size& s) const { return s.values == cap.values || s.bytes == cap.bytes; }

  // The least JSON text a value's own fields take: its text once (str, int digits) or as hex
  // (bytes), plus a small fixed part; what matters is that repeats are multiplied out.
  // Big ints are kept as two's complement bytes: their digits are about 2.41 per byte (3 here).
  static std::uint64_t own_bytes(const value& v) {
    const std::uint64_t n = v.text().size();
    const std::uint64_t text = v.kind() == value_kind::bytes     ? 2 * n
                               : v.kind() == value_kind::integer ? 3 * n
                               : v.kind() == value_kind::string  ? n
                                                                 : 0;
    return 16 + text;
  }

  size count(const value& v) {
    size n{1, own_bytes(v)};
    const auto items = v.items();
    const auto& attrs = v.attrs();
    if (items.empty() && attrs.empty()) return n;
    if (auto it = memo.find(&v); it != memo.end()) return it->second;
    for (const value* it : items) {
      if (full(n)) break;
      add(n, count(*it));
    }
    for (const auto& [name, a] : attrs) {
      if (full(n)) break;
      // The attribute's name is written on every visit too (a 100 KB name shared 400,000 times
      // is 40 GB of JSON).
      add(n, size{0, 8 + std::uint64_t{name.size()}});
      add(n, count(*a));
    }
    memo.emplace(&v, n);
    return n;
  }
};

}  // namespace

result<void> check_expansion(const checkpoint& ck) {
  const std::uint64_t budget = ck.walk_budget(), max_bytes = ck.output_budget();
  counter c{{budget == UINT64_MAX ? budget : budget + 1, max_bytes == UINT64_MAX ? max_bytes : max_bytes + 1}, {}};
  const size n = c.count(ck.root());
  if (n.values > budget)
    return make_error(errc::limit_exceeded, "limit max_walk_nodes (" + std::to_string(budget) +
                                                " values): shared references expand the value tree past the walk budget");
  if (n.bytes > max_bytes)
    return make_error(errc::limit_exceeded, "limit max_output_bytes (" + std::to_string(max_bytes) +
                                                " bytes): shared references expand the value tree's text past the output budget");
  return {};
}

}  // namespace pthsafe::detail
