#include "pickle/machine.hpp"

#include <array>
#include <algorithm>
#include <bit>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "io/cursor.hpp"
#include "util/numbers.hpp"
#include "pickle/memo_reads_ahead.hpp"
#include "pickle/memo_uses.hpp"
#include "pickle/opcodes.hpp"
#include "pickle/tensor_template.hpp"
#include "pickle/text.hpp"
#include "pickle/value_stack.hpp"
#include "util/keyed_hash.hpp"
#include "util/open_table.hpp"
#include "util/try.hpp"

namespace pthsafe::detail {
namespace {

using va = value_access;

constexpr std::size_t index_threshold = 16;
// What the tree budget charges for memory beyond the value nodes (see charge() and check_tree).
// One finished-node entry of check_tree's map (and of the walkers' maps after it): a 32-byte
// heap node and its share of the bucket array, which doubles as it grows.
constexpr std::uint64_t walk_entry_bytes = 64;
// Text lives in the checkpoint's arena: its bytes, nothing more.
constexpr std::uint64_t text_bytes(std::uint64_t n) { return n; }

// Little-endian 32 bits at p (the caller checked that 4 bytes remain).
std::uint32_t le32(const unsigned char* p) {
  return std::uint32_t{p[0]} | (std::uint32_t{p[1]} << 8) | (std::uint32_t{p[2]} << 16) | (std::uint32_t{p[3]} << 24);
}

std::string hex_byte(std::uint8_t b) {
  std::array<char, 8> buf{};
  std::snprintf(buf.data(), buf.size(), "0x%02x", b);
  return buf.data();
}

}  // namespace

global_ref global_of(const value& v) noexcept {
  const auto i = static_cast<std::uint64_t>(value_access::i(const_cast<value&>(v)));
  return {static_cast<global_id>(i & 0xff), static_cast<std::uint8_t>((i >> 8) & 0xff), ((i >> 16) & 1) != 0};
}

// Asked only of a target whose rebuilds_tensor_v2_typed() says it has its own.
result<value*> call_target::rebuild_tensor_v2(value& /*storage*/, std::int64_t /*offset*/, std::span<const std::int64_t> /*size*/,
                                              std::span<const std::int64_t> /*stride*/, bool /*requires_grad*/) {
  throw_precondition("call_target::rebuild_tensor_v2 called on a target without one");
}

machine::machine(checkpoint_state& st, call_target& target, const load_options& opts, std::string record)
    : st_(st), target_(target), opts_(opts), record_(std::move(record)) {}

// The stack operations every opcode makes, inlined into each opcode's case: as calls they were
// ~5 % of a 100,000-tensor load (bench/NOTES.md 42).
#define PTHSAFE_HOT [[gnu::always_inline]] inline

#define PTHSAFE_TRY_CHARGE(n) \
  if (!m.st_.charge(n)) return limit("max_tree_bytes", lim.max_tree_bytes)

// The machine's working state for one run. Kept out of the header: it is an implementation detail.
struct machine::impl {
  machine& m;
  cursor c;
  std::span<const std::byte> all;  // the whole pickle c reads
  value_stack<value*> stack;
  std::vector<std::size_t> marks;
  // The memo: dense indices (what picklers write: 0, 1, 2, ...) in a vector, scattered ones
  // (only hostile files write those) in a hash map.
  // Indices below dense_size are dense. Of those, only the ones some GET reads (reads) keep a
  // pointer in memo_dense; the others (7 of torch's 8 per tensor) keep a bit in dense_unread,
  // which is all memo_put needs to know about them. Charges follow dense_size, as when every
  // index held a pointer.
  std::uint64_t dense_size = 0;
  std::vector<value*> memo_dense;
  std::vector<std::uint64_t> dense_unread;
  std::unordered_map<std::uint64_t, value*, keyed_u64_hash> memo_sparse;
  std::uint64_t memo_count = 0;
  // Key hash -> item position for dicts and sets of index_threshold+ keys (a state_dict's root
  // holds 100,000s): no allocation per key; candidates are confirmed with keys_equal.
  std::unordered_map<const value*, open_table> indexes;
  std::uint64_t frame_end = 0;  // 0: not inside a FRAME
  // Immutable values shared instead of allocated: None, the bools and small ints. Python shares
  // them too, and it keeps floods of one-byte pushes from costing a node each.
  static constexpr std::int64_t intern_lo = -256, intern_hi = 1024;
  value* none_node = nullptr;
  value* bool_nodes[2] = {nullptr, nullptr};
  value* empty_tuple_node = nullptr;
  std::vector<value*> int_nodes = std::vector<value*>(static_cast<std::size_t>(intern_hi - intern_lo), nullptr);
  bool warned[256] = {};
  const limits& lim;
  // Memo indices the pickle reads back (nullopt: treat all as read). A node memoised under an
  // index never read keeps flag_fresh, so that a consuming call can hand it back (recycle()).
  std::optional<memo_reads> reads;

  impl(machine& mm, std::span<const std::byte> p) : m(mm), c(p), all(p), lim(mm.opts_.limits) {}

  error fail(errc code, std::string msg) const { return make_error(code, std::move(msg), m.record_, m.op_pos_); }
  error truncated() const { return fail(errc::pickle_truncated, "pickle ends inside an opcode or before STOP"); }
  error limit(const char* name, std::uint64_t v) const {
    return fail(errc::limit_exceeded, std::string("limit ") + name + " (" + std::to_string(v) + ") exceeded");
  }

  // Reads honour FRAME boundaries exactly as pickle.py does: an operand may not straddle the
  // end of a frame (the C unpickler would allow it; where the two disagree we refuse).
  result<void> need(std::uint64_t n) {
    if (frame_end && c.pos() == frame_end) frame_end = 0;
    if (frame_end && n > frame_end - c.pos())
      return fail(errc::pickle_bad_operand, "operand crosses the end of its FRAME");
    if (n > c.remaining()) return truncated();
    return {};
  }
  result<std::string_view> take(std::uint64_t n) {
    if (auto r = need(n); !r) return std::move(r).error_value();
    std::string_view out;
    c.bytes(n, out);
    return out;
  }
  result<std::string_view> take_line() {
    if (frame_end && c.pos() == frame_end) frame_end = 0;
    const std::uint64_t limit = frame_end ? frame_end - c.pos() : c.remaining();
    std::string_view out;
    if (!c.line(out, limit)) {
      if (frame_end && limit < c.remaining()) return fail(errc::pickle_bad_operand, "text operand crosses the end of its FRAME");
      return truncated();
    }
    return out;
  }
  template <class T>
  result<T> take_le() {
    auto b = take(sizeof(T));
    if (!b) return std::move(b).error_value();
    T v = 0;
    for (std::size_t i = 0; i < sizeof(T); ++i)
      v = static_cast<T>(v | static_cast<T>(std::uint64_t{static_cast<unsigned char>((*b)[i])} << (8 * i)));
    return v;
  }

  PTHSAFE_HOT result<value*> alloc(value_kind k) {
    if (!m.st_.charge(charged_value_bytes)) return limit("max_tree_bytes", lim.max_tree_bytes);
    return &m.st_.new_value(k);
  }
  PTHSAFE_HOT result<void> push(value* v) {
    if (stack.size() >= lim.max_stack_items) return limit("max_stack_items", lim.max_stack_items);
    stack.push_back(v);
    return {};
  }
  std::size_t fence() const { return marks.empty() ? 0 : marks.back(); }
  PTHSAFE_HOT result<void> push_mark() {
    if (marks.size() >= lim.max_mark_depth) return limit("max_mark_depth", lim.max_mark_depth);
    marks.push_back(stack.size());
    return {};
  }

  static void set_fresh(value& v) { va::small(v) |= flag_fresh; }
  static void clear_fresh(value& v) { va::small(v) &= static_cast<std::uint8_t>(~flag_fresh); }
  // Hands back a node a consuming call has taken, with the fresh tuples, strings, ints and
  // storages in it down to `depth` levels (a tensor's arguments: the tuple, its size/stride
  // tuples, their ints; the hooks dict). Only fresh nodes go: a fresh node has exactly one
  // holder, the slot it is released from, so nothing can reach it afterwards. Containers other
  // than tuples go only empty (a dict with items may have a key index in `indexes`), tensors and
  // other call results never.
  void recycle(value& v, int depth) {
    if (!(va::small(v) & flag_fresh)) return;
    clear_fresh(v);
    switch (v.kind()) {
      case value_kind::tuple: case value_kind::string: case value_kind::bytes: case value_kind::integer:
      case value_kind::storage:
        break;
      case value_kind::dict: case value_kind::ordered_dict:
        if (!v.items().empty() || !v.attrs().empty() || !v.text().empty()) return;
        break;
      default: return;
    }
    if (v.kind() == value_kind::tuple) {
      const auto items = v.items();
      if (depth > 0)
        for (const value* it : items)
          if (va::small(*const_cast<value*>(it)) & flag_fresh) recycle(*const_cast<value*>(it), depth - 1);
      if (const value** slots = va::exact_items(v); slots && !items.empty() && items.size() <= checkpoint_state::max_reused_slots)
        m.st_.free_slots[items.size()].push_back(slots);
    }
    m.st_.free_nodes.push_back(&v);
  }
  PTHSAFE_HOT result<value*> pop() {
    if (stack.size() <= fence()) return fail(errc::pickle_stack_underflow, "pop from an empty stack");
    value* v = stack.back();
    stack.pop_back();
    return v;
  }
  PTHSAFE_HOT result<value*> top() {
    if (stack.size() <= fence()) return fail(errc::pickle_stack_underflow, "stack is empty");
    return stack.back();
  }
  result<std::vector<value*>> pop_mark() {
    if (marks.empty()) return fail(errc::pickle_no_mark, "no MARK to pop to");
    const std::size_t at = marks.back();
    marks.pop_back();
    std::vector<value*> items(stack.begin() + static_cast<std::ptrdiff_t>(at), stack.end());
    stack.truncate(at);
    return items;
  }

  // interned() for its effect alone: the node made on first use (and charged), else nothing.
  PTHSAFE_HOT result<void> intern_once(value*& slot, value_kind k, std::int64_t i, std::uint8_t small) {
    if (slot) [[likely]] return {};
    PTHSAFE_TRY(interned(slot, k, i, small));
    return {};
  }
  result<value*> interned(value*& slot, value_kind k, std::int64_t i, std::uint8_t small) {
    if (!slot) {
      auto v = alloc(k);
      if (!v) return v;
      va::i(**v) = i;
      va::small(**v) = small;
      slot = *v;
    }
    return slot;
  }
  result<void> push_none() {
    auto v = interned(none_node, value_kind::none, 0, 0);
    if (!v) return std::move(v).error_value();
    return push(*v);
  }
  result<void> push_bool(bool b) {
    auto v = interned(bool_nodes[b], value_kind::boolean, 0, b);
    if (!v) return std::move(v).error_value();
    return push(*v);
  }
  // Container slots cost memory too: a list of a million shared Nones is 8 MB of pointers.
  // Growing arrays are charged what the arena allocates when they grow (the abandoned smaller
  // arrays stay charged: the arena never reuses them), exact ones their pointers.
  result<void> charge_growth(const value& container, std::uint64_t slots) {
    if (slots > lim.max_tree_bytes / slot_bytes || !m.st_.charge(va::grow_cost(container, static_cast<std::size_t>(slots))))
      return limit("max_tree_bytes", lim.max_tree_bytes);
    return {};
  }
  result<void> append(value& container, std::span<value* const> items) {
    PTHSAFE_TRY(charge_growth(container, items.size()));
    if (!va::append(m.st_.mem, container, std::span<const value* const>(items.data(), items.size())))
      return limit("max_container_items", lim.max_container_items);
    return {};
  }

  // BININT*: no py_int (two std::strings) per opcode.
  PTHSAFE_HOT result<void> push_small_int(std::int64_t x) {
    if (x >= intern_lo && x < intern_hi) {
      if (value* shared = int_nodes[static_cast<std::size_t>(x - intern_lo)]) [[likely]] return push(shared);
      PTHSAFE_ASSIGN(value* v, interned(int_nodes[static_cast<std::size_t>(x - intern_lo)], value_kind::integer, x, 0));
      return push(v);
    }
    PTHSAFE_ASSIGN(value* v, alloc(value_kind::integer));
    va::i(*v) = x;
    set_fresh(*v);
    return push(v);
  }
  result<void> push_int(const py_int& n) {
    if (n.decimal.empty() && n.raw.empty()) return push_small_int(n.small);
    if (!m.st_.charge(text_bytes(n.raw.size() + n.decimal.size()))) return limit("max_tree_bytes", lim.max_tree_bytes);
    auto v = alloc(value_kind::integer);
    if (!v) return std::move(v).error_value();
    va::i(**v) = n.small;
    if (!n.raw.empty() || !n.decimal.empty()) {
      // One form for every big int, whatever opcode made it: keys compare by bytes.
      va::set_text(m.st_.mem, **v, n.raw.empty() ? std::string_view(le_bytes_from_decimal(n.decimal)) : std::string_view(n.raw));
      va::small(**v) = flag_int_raw;
    }
    set_fresh(**v);
    return push(*v);
  }
  result<void> push_text(value_kind k, std::string_view s, std::uint8_t flags = 0) {
    if (s.size() > lim.max_string_bytes) return limit("max_string_bytes", lim.max_string_bytes);
    if (!m.st_.charge(text_bytes(s.size()))) return limit("max_tree_bytes", lim.max_tree_bytes);
    auto v = alloc(k);
    if (!v) return std::move(v).error_value();
    va::set_text(m.st_.mem, **v, s);
    va::small(**v) = static_cast<std::uint8_t>(flags | flag_fresh);
    return push(*v);
  }
  // Length-prefixed payload: the declared length is checked against the bytes that remain
  // before anything is allocated.
  result<std::string_view> take_sized(std::uint64_t n) {
    if (n > lim.max_string_bytes) return limit("max_string_bytes", lim.max_string_bytes);
    return take(n);
  }
  result<void> push_unicode(std::string_view s) {
    if (!valid_utf8(s, true)) return fail(errc::pickle_bad_text, "string is not valid UTF-8");
    return push_text(value_kind::string, s);
  }
  // SHORT_BINSTRING / BINSTRING / STRING are decoded with torch's default encoding, utf-8.
  result<void> push_py2_string(std::string_view s) {
    if (!valid_utf8(s, false)) return fail(errc::pickle_bad_text, "py2 string is not valid UTF-8");
    return push_text(value_kind::string, s);
  }

  // Height of a tuple or frozenset (kept in its i_ when built; they never change afterwards).
  // Hashing and comparing keys recurse through them, so their depth is bounded at creation,
  // before SETITEM or ADDITEMS ever hash them (400,000 nested TUPLE1s would overflow the stack).
  static std::int64_t hashable_height(const value* v) {
    return (v->kind() == value_kind::tuple || v->kind() == value_kind::frozenset) ? va::i(*const_cast<value*>(v)) : 0;
  }
  result<void> set_height(value& v, std::span<value* const> items) {
    std::int64_t h = 0;
    for (const value* it : items) h = std::max(h, hashable_height(it));
    if (h + 1 > static_cast<std::int64_t>(lim.max_nesting_depth)) return limit("max_nesting_depth", lim.max_nesting_depth);
    va::i(v) = h + 1;
    return {};
  }

  // Builds the container straight from the stack slots (no temporary vector per tuple).
  result<value*> make_container(value_kind k, std::span<value* const> items) {
    if (items.size() > lim.max_container_items) return limit("max_container_items", lim.max_container_items);
    auto v = alloc(k);
    if (!v) return std::move(v).error_value();
    PTHSAFE_TRY_CHARGE(items.size() * slot_bytes);
    if (k == value_kind::tuple) {
      // set_height and the hashability of the items in one pass over them.
      std::int64_t h = 0;
      bool hashable = true;
      for (const value* it : items) {
        h = std::max(h, hashable_height(it));
        hashable = hashable && is_hashable(*it);
      }
      if (h + 1 > static_cast<std::int64_t>(lim.max_nesting_depth)) return limit("max_nesting_depth", lim.max_nesting_depth);
      va::i(**v) = h + 1;
      if (!hashable) va::small(**v) |= flag_unhashable;
      const value** slots = nullptr;
      if (!items.empty() && items.size() <= checkpoint_state::max_reused_slots && !m.st_.free_slots[items.size()].empty()) {
        slots = m.st_.free_slots[items.size()].back();
        m.st_.free_slots[items.size()].pop_back();
      }
      va::set_items(m.st_.mem, **v, std::span<const value* const>(items.data(), items.size()), slots);
      set_fresh(**v);
    } else {  // lists grow (APPEND): geometric capacity from the start
      PTHSAFE_TRY(append(**v, items));
    }
    return *v;
  }

  std::uint64_t& key_budget = m.st_.key_budget;
  error key_budget_spent() const {
    return fail(errc::limit_exceeded, key_budget_message);
  }

  // Position of key `k` among a dict's keys (even item slots), or npos. The index of a large
  // container costs open_table::slot_bytes (8) a slot, charged to max_tree_bytes before it grows.
  // Where a find_key that found nothing in an indexed container would file the key: note_insert
  // takes it (the index unchanged between), so that a new key costs one probe and one hash.
  struct key_slot {
    const value* container = nullptr;
    std::uint64_t hash = 0;
    std::size_t empty_at = SIZE_MAX;
  };
  key_slot last_miss;
  result<std::size_t> find_key(value& d, const value& k) {
    const auto items = d.items();
    const std::size_t step = (d.kind() == value_kind::dict || d.kind() == value_kind::ordered_dict) ? 2 : 1;
    const std::size_t n = items.size() / step;
    if (n < index_threshold) {
      for (std::size_t i = 0; i < items.size(); i += step)
        if (keys_equal(*items[i], k, key_budget)) return i;
      return std::string::npos;
    }
    open_table* table = index_of(d);
    if (!table) {
      open_table fresh(n);
      PTHSAFE_TRY_CHARGE(64 + fresh.bytes());  // the map node and the slots
      for (std::size_t i = 0; i < items.size(); i += step) fresh.insert(key_hash(*items[i]), static_cast<std::uint32_t>(i));
      table = &indexes.emplace(&d, std::move(fresh)).first->second;
      last_indexed = &d;
      last_index = table;
    }
    const std::uint64_t h = key_hash(k);
    std::size_t empty_at = SIZE_MAX;
    const auto pos = table->find(h, [&](std::uint32_t p) { return keys_equal(*items[p], k, key_budget); }, empty_at);
    if (pos) return std::size_t{*pos};
    last_miss = {&d, h, empty_at};
    return std::string::npos;
  }
  // The key index of container d, or null. The last answer is kept: SETITEMS inserts a
  // state_dict's keys one after another into one dict (the map lookup was ~3 % of a load).
  // Entries are never erased and a map node never moves, so the kept pointer stays valid; the
  // one place that adds an index updates it.
  const value* last_indexed = nullptr;
  open_table* last_index = nullptr;
  open_table* index_of(const value& d) {
    if (&d == last_indexed) return last_index;
    const auto it = indexes.find(&d);
    last_indexed = &d;
    last_index = it == indexes.end() ? nullptr : &it->second;
    return last_index;
  }
  result<void> note_insert(value& d, std::size_t pos) {
    open_table* table = index_of(d);
    if (!table) return {};
    PTHSAFE_TRY_CHARGE(table->growth_bytes());  // the old slots are freed as it grows
    // The key was looked up just before (set_item, set_add: no other change to the index
    // between): its hash and slot are kept.
    if (last_miss.container == &d) {
      table->insert_at(last_miss.hash, static_cast<std::uint32_t>(pos), last_miss.empty_at);
      last_miss = {};
      return {};
    }
    table->insert(key_hash(*d.items()[pos]), static_cast<std::uint32_t>(pos));
    return {};
  }

  result<void> set_item(value& d, value* k, value* v) {
    if (!is_hashable(*k)) return fail(errc::pickle_bad_operand, "unhashable dict key");
    auto found = find_key(d, *k);
    if (!found) return std::move(found).error_value();
    const std::size_t at = *found;
    if (key_budget == 0) return key_budget_spent();
    if (at != std::string::npos) {
      va::item(d, at + 1) = v;  // Python keeps the first key object and its position
      return {};
    }
    if (d.items().size() / 2 >= lim.max_container_items) return limit("max_container_items", lim.max_container_items);
    value* const pair[2] = {k, v};
    PTHSAFE_TRY(append(d, pair));
    return note_insert(d, d.items().size() - 2);
  }
  result<void> set_add(value& s, value* item) {
    if (!is_hashable(*item)) return fail(errc::pickle_bad_operand, "unhashable set item");
    auto found = find_key(s, *item);
    if (!found) return std::move(found).error_value();
    if (*found != std::string::npos) return {};
    if (key_budget == 0) return key_budget_spent();
    if (s.items().size() >= lim.max_container_items) return limit("max_container_items", lim.max_container_items);
    PTHSAFE_TRY(append(s, std::span<value* const>(&item, 1)));
    return note_insert(s, s.items().size() - 1);
  }

  // The hash-sorted item array keys_equal merges (sorted_items); small sets compare directly.
  result<void> index_frozenset(value& s) {
    const auto items = s.items();
    if (items.size() <= 8) return {};
    PTHSAFE_TRY_CHARGE(text_bytes(16 * std::uint64_t{items.size()}));
    std::vector<std::pair<std::uint64_t, const value*>> sorted;
    sorted.reserve(items.size());
    for (const value* it : items) sorted.emplace_back(key_hash(*it), it);
    std::sort(sorted.begin(), sorted.end(), [](const auto& l, const auto& r) { return l.first < r.first; });
    char* out = va::make_text(m.st_.mem, s, 16 * sorted.size());
    for (std::size_t i = 0; i < sorted.size(); ++i) {
      std::memcpy(out + 16 * i, &sorted[i].first, 8);
      std::memcpy(out + 16 * i + 8, &sorted[i].second, slot_bytes);
    }
    return {};
  }

  result<void> global(std::string module, std::string name) {
    map_py2_name(module, name);
    const std::string full = module + "." + name;
    if (module_is_blocked(module))
      return fail(errc::pickle_global_blocked, "GLOBAL " + full + ": module " + module + " is always refused");
    std::optional<global_ref> ref = lookup_default_global(full);
    if (!ref) ref = m.target_.resolve_global(full);
    if (!ref) {
      for (const auto& allowed : m.opts_.allowed_globals)
        if (allowed == full) { ref = global_ref{global_id::caller_allowed}; break; }
    }
    if (!ref) return fail(errc::pickle_global_refused, "GLOBAL " + full + " is not an allowed global");
    value_kind k = value_kind::global;
    if (ref->id == global_id::dtype) k = value_kind::dtype;
    if (ref->id == global_id::qscheme) k = value_kind::qscheme;
    auto v = alloc(k);
    if (!v) return std::move(v).error_value();
    if (k == value_kind::dtype) {
      va::share_text(**v, dtype_global_name(ref->param));
      va::i(**v) = ref->param < dtype_count ? ref->param : -1;
    } else if (k == value_kind::qscheme) {
      va::share_text(**v, qscheme_name(ref->param));
    } else {
      va::set_text(m.st_.mem, **v, full);
      va::i(**v) = static_cast<std::int64_t>(static_cast<std::uint64_t>(ref->id) | (std::uint64_t(ref->param) << 8) |
                                             (std::uint64_t(ref->sparse) << 16));
    }
    return push(*v);
  }

  // The slot holding index idx's value, or null (never stored, or stored as unread). An index
  // stored scattered stays in memo_sparse when later puts extend the dense run past it, so that
  // map is asked whenever it holds anything (it is empty for every pickler's output).
  value** memo_slot(std::uint64_t idx) {
    if (idx < memo_dense.size() && memo_dense[idx]) return &memo_dense[idx];  // memo_dense.size() <= dense_size
    if (memo_sparse.empty()) return nullptr;
    const auto it = memo_sparse.find(idx);
    return it == memo_sparse.end() ? nullptr : &it->second;
  }
  bool unread_stored(std::uint64_t idx) const {
    return idx / 64 < dense_unread.size() && ((dense_unread[idx / 64] >> (idx % 64)) & 1) != 0;
  }
  // A dense index's entry: a bit when never read back, else the node.
  PTHSAFE_HOT void store_dense(std::uint64_t idx, value* t, bool unread) {
    if (unread) {
      if (idx / 64 >= dense_unread.size()) dense_unread.resize(static_cast<std::size_t>(idx / 64 + 1), 0);
      dense_unread[idx / 64] |= std::uint64_t{1} << (idx % 64);
    } else {
      if (idx >= memo_dense.size()) memo_dense.resize(static_cast<std::size_t>(idx + 1), nullptr);
      memo_dense[idx] = t;
    }
  }
  result<void> memo_put(std::uint64_t idx) {
    auto t = top();
    if (!t) return std::move(t).error_value();
    const bool unread = reads && !reads->read(idx);
    if (!unread) clear_fresh(**t);  // a second holder: the memo, read back later
    // No pickler numbers its memo past the number of objects it memoised; _pickle sizes an array
    // by the index (MemoryError where pickle.py accepts), so such indices are refused.
    if (idx >= lim.max_memo_entries) return limit("max_memo_entries", lim.max_memo_entries);
    if (idx < dense_size ? (unread ? unread_stored(idx) : memo_slot(idx) != nullptr)
                         : !memo_sparse.empty() && memo_sparse.count(idx) != 0) {
      if (value** slot = memo_slot(idx)) *slot = *t;  // an unread entry keeps no pointer to replace
      return {};
    }
    if (memo_count >= lim.max_memo_entries) return limit("max_memo_entries", lim.max_memo_entries);
    ++memo_count;
    if (idx < dense_size + 4096 && idx < lim.max_memo_entries) {
      if (idx >= dense_size) {
        PTHSAFE_TRY_CHARGE((idx + 1 - dense_size) * slot_bytes);
        dense_size = idx + 1;
      }
      store_dense(idx, *t, unread);
    } else {
      PTHSAFE_TRY_CHARGE(64);
      memo_sparse.emplace(idx, *t);
    }
    return {};
  }
  // The put picklers write: the next dense index, with nothing stored scattered and the limits
  // far. The general path's effects for that case, inline; everything else goes through memo_put.
  PTHSAFE_HOT result<void> memo_put_next(std::uint64_t idx) {
    if (idx != dense_size || !memo_sparse.empty() || idx >= lim.max_memo_entries || memo_count >= lim.max_memo_entries ||
        stack.size() <= fence()) [[unlikely]]
      return memo_put(idx);
    return memo_store_next(idx, stack.back());
  }
  // memo_put's effects for `t` under the next dense index. Precondition: idx == dense_size,
  // memo_sparse empty, idx and memo_count below max_memo_entries. An unread entry keeps no
  // pointer (the tensor template passes nodes that live only for its calls).
  PTHSAFE_HOT result<void> memo_store_next(std::uint64_t idx, value* t) {
    const bool unread = reads && !reads->read(idx);
    if (!unread) clear_fresh(*t);
    ++memo_count;
    PTHSAFE_TRY_CHARGE(slot_bytes);
    dense_size = idx + 1;
    store_dense(idx, t, unread);
    return {};
  }
  PTHSAFE_HOT result<void> memo_get(std::uint64_t idx) {
    value** slot = memo_slot(idx);
    if (!slot) return fail(errc::pickle_memo_missing, "memo index " + std::to_string(idx) + " was never stored");
    clear_fresh(**slot);  // memo_put cleared it already (the walk saw this read); kept as a second line
    return push(*slot);
  }

  // ---- torch's per-tensor opcodes in one step (pickle/tensor_template.hpp, NOTES 48) ----
  // The nodes the template's gets name, all memoised before it.
  struct template_nodes {
    value* rebuild = nullptr;
    value* storage = nullptr;
    value* cls = nullptr;
    value* key = nullptr;  // null: a new key (BINUNICODE)
    value* location = nullptr;
    value* hooks = nullptr;
    std::uint64_t bound = 0;  // the charges the template may make, at most
  };
  std::uint64_t templates_used = 0;
  tensor_template matched;  // the last match, reused: no reset of its ~300 bytes a tensor
  // True when running the template's calls here gives exactly what its opcodes would: every put
  // the next dense index and, but for the key's, never read back (so no temporary node is
  // memoised); every get resolves; no limit can be reached on the way (the general way reports
  // a limit at the opcode that reaches it); the target consumes what it is given.
  bool template_fits(const tensor_template& t, template_nodes& n) {
    if (!reads || !memo_sparse.empty()) return false;
    const bool new_key = !t.key.is_get;
    std::uint64_t next = dense_size;
    if (new_key && t.key.put != next++) return false;
    if (t.pid_put != next++) return false;
    for (const tensor_template::dims* d : {&t.size, &t.stride})
      if (d->put_present && (d->put != next++ || reads->read(d->put))) return false;
    if (t.hooks_put != next++ || t.args_put != next++) return false;
    if (next >= lim.max_memo_entries || memo_count + (next - dense_size) >= lim.max_memo_entries) return false;
    if (reads->read(t.pid_put) || reads->read(t.hooks_put) || reads->read(t.args_put)) return false;
    // memo_slot's answer with nothing stored scattered (checked above), in line: five lookups
    // a tensor were 110 instructions as calls (bench/NOTES.md 52).
    const auto node = [this](std::uint64_t idx) -> value* { return idx < memo_dense.size() ? memo_dense[idx] : nullptr; };
    n.rebuild = node(t.rebuild_get);
    n.storage = node(t.storage_get);
    n.cls = node(t.class_get);
    n.location = node(t.location_get);
    n.hooks = node(t.hooks_get);
    if (!n.rebuild || !n.storage || !n.cls || !n.location || !n.hooks) return false;
    if (!new_key && !(n.key = node(t.key.get))) return false;
    if (n.rebuild->kind() != value_kind::global || global_of(*n.rebuild).id != global_id::rebuild_tensor_v2 ||
        n.hooks->kind() != value_kind::global || global_of(*n.hooks).id != global_id::ordered_dict)
      return false;
    // The persistent id's tuple is one level above its items: a fetched tuple or frozenset
    // there could reach max_nesting_depth at TUPLE, which the general way reports.
    for (const value* v : {n.storage, n.cls, n.key, n.location})
      if (v && hashable_height(v) != 0) return false;
    // The general way's peak: 12 more stack items (8 dims pushed above the function, the
    // storage and the offset), 3 more MARKs, tuples of 8 items and 2 levels.
    if (stack.size() + 12 > lim.max_stack_items || marks.size() + 3 > lim.max_mark_depth ||
        lim.max_container_items < tensor_template::max_dims || lim.max_nesting_depth < 2)
      return false;
    if (new_key && (t.key.text.size() > lim.max_string_bytes || !valid_utf8(t.key.text, true))) return false;
    // Every charge on the way, bounded from above: the machine's nodes, slots and memo entries,
    // persistent_load's storage record (4 bytes a key character + 160 + a node; a TorchScript
    // prefix is a few characters more), OrderedDict()'s node, make_tensor's record and dims.
    const std::uint64_t key_len = new_key ? t.key.text.size() : std::max<std::uint64_t>(n.key->text().size(), 32);
    constexpr std::uint64_t dims = tensor_template::max_dims;
    const std::uint64_t bound = key_len + charged_value_bytes + 6 * slot_bytes + (2 + 2 * dims) * charged_value_bytes +
                                charged_value_bytes + 5 * slot_bytes + 2 * (charged_value_bytes + dims * slot_bytes) +
                                3 * charged_value_bytes + charged_value_bytes + 6 * slot_bytes +
                                charged_storage_record_bytes + 4 * (key_len + 64) + 160 + charged_value_bytes +
                                charged_value_bytes + charged_tensor_record_bytes + 2 * dims * sizeof(std::int64_t) + charged_value_bytes + 1024;
    if (!m.st_.can_charge(bound)) return false;
    n.bound = bound;
    // The target's answers for these two callables (the same nodes for every tensor of a
    // pickle) are asked once: a target's answers do not change during a run.
    if (n.rebuild != consumes_asked[0] || n.hooks != consumes_asked[1]) {
      value no_args;
      va::kind(no_args) = value_kind::tuple;
      consumes_asked = {n.rebuild, n.hooks};
      consumes_answer = m.target_.consumes_persistent_ids() && m.target_.consumes_reduce_args(*n.rebuild, no_args) &&
                        m.target_.consumes_reduce_args(*n.hooks, no_args) && m.target_.rebuilds_tensor_v2_typed();
    }
    return consumes_answer;
  }
  std::array<const value*, 2> consumes_asked{};
  bool consumes_answer = false;
  // An int as BININT* pushes it: the shared node, or (outside the shared range) a node of its
  // own, charged as one, which here is `tmp`: the call it goes into keeps no reference to it.
  result<value*> template_int(std::int64_t x, value& tmp) {
    if (x >= intern_lo && x < intern_hi)
      return interned(int_nodes[static_cast<std::size_t>(x - intern_lo)], value_kind::integer, x, 0);
    PTHSAFE_TRY_CHARGE(charged_value_bytes);
    va::kind(tmp) = value_kind::integer;
    va::i(tmp) = x;
    return &tmp;
  }
  // template_int for its effect alone (the typed call takes the int itself).
  PTHSAFE_HOT result<void> template_int_effect(std::int64_t x) {
    if (x >= intern_lo && x < intern_hi) return intern_once(int_nodes[static_cast<std::size_t>(x - intern_lo)], value_kind::integer, x, 0);
    PTHSAFE_TRY_CHARGE(charged_value_bytes);
    return {};
  }
  // Nodes that live only for the template's calls (the target keeps no reference to them):
  // a tuple's node and slot array, and up to max_dims ints outside the shared range, built on
  // this stack as they are needed (value is trivially destructible).
  template <std::size_t N>
  struct temp_tuple {
    value node;
    std::array<const value*, N> slots;  // set_items writes the ones used
    value* make(arena& mem, std::span<const value* const> items, std::int64_t height) {
      va::kind(node) = value_kind::tuple;
      va::i(node) = height;
      va::set_items(mem, node, items, slots.data());
      return &node;
    }
  };
  // A size or stride tuple as TUPLE1-3/TUPLE and its put leave the machine: its ints interned
  // or charged as nodes of their own, the tuple charged, the put's memo entry (never read back:
  // template_fits) taken. No node is made: the typed rebuild call reads the ints themselves.
  result<void> template_dims(const tensor_template::dims& d) {
    if (!d.put_present) {  // EMPTY_TUPLE
      return intern_once(empty_tuple_node, value_kind::tuple, 1, 0);
    }
    for (std::size_t i = 0; i < d.n; ++i) PTHSAFE_TRY(template_int_effect(d.v[i]));
    PTHSAFE_TRY_CHARGE(charged_value_bytes + d.n * slot_bytes);
    return memo_store_unread(d.put);
  }
  // memo_store_next for an entry template_fits found no read of: a slot and nothing kept.
  PTHSAFE_HOT result<void> memo_store_unread(std::uint64_t idx) {
    ++memo_count;
    PTHSAFE_TRY_CHARGE(slot_bytes);
    dense_size = idx + 1;
    store_dense(idx, nullptr, true);
    return {};
  }
  // The template's effects, in its opcodes' order: the key and its put, the persistent id's
  // tuple and put, BINPERSID, the offset, size and stride, requires_grad, OrderedDict() and
  // its put, the argument tuple and its put, and the rebuild REDUCE, whose tensor is pushed.
  // Nodes nothing reads back are not made (their charges and memo slots are): the size, stride
  // and argument tuples, whose values go to the target's typed rebuild call.
  // Errors carry the offset of the opcode that raises them in the general way.
  result<void> run_template(const tensor_template& t, const template_nodes& n) {
    const std::uint64_t charged_before = m.st_.tree_bytes;
    for (value* fetched : {n.rebuild, n.storage, n.cls, n.key, n.location, n.hooks})
      if (fetched) clear_fresh(*fetched);  // as memo_get (a node read back is not fresh already)
    value* key = n.key;
    if (!key) {
      PTHSAFE_TRY_CHARGE(text_bytes(t.key.text.size()));
      PTHSAFE_ASSIGN(key, alloc(value_kind::string));
      va::set_text(m.st_.mem, *key, t.key.text);
      va::small(*key) = flag_fresh;
      PTHSAFE_TRY(memo_store_next(t.key.put, key));
    }
    value numel_tmp;
    PTHSAFE_ASSIGN(value* numel, template_int(t.numel, numel_tmp));
    PTHSAFE_TRY_CHARGE(charged_value_bytes + 5 * slot_bytes);
    const std::array<const value*, 5> pid_items{n.storage, n.cls, key, n.location, numel};
    temp_tuple<5> pid_tmp;
    value* pid = pid_tmp.make(m.st_.mem, pid_items, 1);
    PTHSAFE_TRY(memo_store_next(t.pid_put, pid));
    m.op_pos_ = t.persid_at;
    PTHSAFE_ASSIGN(value* storage, m.target_.persistent_load(*pid));
    set_fresh(*storage);
    recycle(*key, 0);  // as recycle(pid, 1): only a fresh (new, unread) key goes
    PTHSAFE_TRY(template_int_effect(t.offset));
    PTHSAFE_TRY(template_dims(t.size));
    PTHSAFE_TRY(template_dims(t.stride));
    PTHSAFE_TRY(intern_once(bool_nodes[t.requires_grad], value_kind::boolean, 0, t.requires_grad));
    PTHSAFE_TRY(intern_once(empty_tuple_node, value_kind::tuple, 1, 0));  // OrderedDict's ()
    // OrderedDict() is made (and charged) by the typed call below, which stands for it too: its
    // memo entry and the argument tuple's are never read back (template_fits).
    PTHSAFE_TRY(memo_store_unread(t.hooks_put));
    PTHSAFE_TRY_CHARGE(charged_value_bytes + 6 * slot_bytes);  // the argument tuple
    PTHSAFE_TRY(memo_store_unread(t.args_put));
    m.op_pos_ = t.reduce_at;
    PTHSAFE_ASSIGN(value* tensor, m.target_.rebuild_tensor_v2(*storage, t.offset, std::span<const std::int64_t>(t.size.v.data(), t.size.n),
                                                              std::span<const std::int64_t>(t.stride.v.data(), t.stride.n), t.requires_grad));
    set_fresh(*tensor);
    recycle(*storage, 0);  // as recycle(args, 2): the fresh storage node goes
    // The bound let no limit trip inside, where error offsets would be this template's, not
    // the opcode's: a charge that outgrew it (a constant changed in rebuild.cpp) stops here, in
    // the tests that run every fixture through the template.
    require(m.st_.tree_bytes - charged_before <= n.bound, "tensor template: charges exceeded the bound template_fits checked");
    ++templates_used;
    return push(tensor);
  }

  result<std::uint64_t> decimal_index(std::string_view line) {
    if (line.empty() || line.size() > 18) return fail(errc::pickle_bad_text, "memo index is not a decimal number");
    std::uint64_t v = 0;
    for (char ch : line) {
      if (ch < '0' || ch > '9') return fail(errc::pickle_bad_text, "memo index is not a decimal number");
      v = v * 10 + static_cast<std::uint64_t>(ch - '0');
    }
    return v;
  }

  // The pickle's pages behind the cursor go back every release_step bytes of a pickle of at
  // least release_min bytes (below that a syscall costs more than the pages are worth), and
  // the rest when the run ends, however it ends.
  static constexpr std::uint64_t release_step = std::uint64_t{1} << 20, release_min = std::uint64_t{4} << 20;
  const page_release* release = nullptr;
  std::uint64_t released = 0, next_release = UINT64_MAX;
  void start_releasing(const page_release* r) {
    if (!r || !*r || all.size() < release_min) return;
    release = r;
    next_release = release_step;
  }
  void release_to(std::uint64_t pos) {
    if (!release || pos <= released) return;
    (*release)(all.subspan(static_cast<std::size_t>(released), static_cast<std::size_t>(pos - released)));
    released = pos;
    next_release = pos + release_step;
  }

  result<value*> run(std::uint64_t& stop_end);
  result<void> step(std::uint8_t code);
  result<void> check_tree(const value* root);
};


result<void> machine::impl::step(std::uint8_t code) {
  switch (code) {
    case op::MARK: return push_mark();
    case op::NONE: return push_none();
    case op::NEWTRUE: case op::NEWFALSE: return push_bool(code == op::NEWTRUE);
    case op::BININT: { PTHSAFE_ASSIGN(auto x, take_le<std::uint32_t>()); return push_small_int(static_cast<std::int32_t>(x)); }
    case op::BININT1: { PTHSAFE_ASSIGN(auto x, take_le<std::uint8_t>()); return push_small_int(x); }
    case op::BININT2: { PTHSAFE_ASSIGN(auto x, take_le<std::uint16_t>()); return push_small_int(x); }
    case op::LONG1: case op::LONG4: {
      std::uint64_t n;
      if (code == op::LONG1) {
        PTHSAFE_ASSIGN(auto x, take_le<std::uint8_t>());
        n = x;
      } else {
        PTHSAFE_ASSIGN(auto x, take_le<std::uint32_t>());
        if (static_cast<std::int32_t>(x) < 0) return fail(errc::pickle_bad_operand, "LONG4 with a negative byte count");
        n = x;
      }
      if (n > lim.max_int_bytes) return limit("max_int_bytes", lim.max_int_bytes);
      PTHSAFE_ASSIGN(auto b, take(n));
      return push_int(int_from_le_bytes(b));
    }
    case op::INT: case op::LONG: {
      PTHSAFE_ASSIGN(auto line, take_line());
      if (code == op::INT && (line == "00" || line == "01")) return push_bool(line == "01");
      if (code == op::LONG && !line.empty() && line.back() == 'L') line.remove_suffix(1);
      py_int n;
      if (!int_from_decimal(line, n)) return fail(errc::pickle_bad_text, "integer operand is not canonical decimal text");
      return push_int(n);
    }
    case op::BINFLOAT: {
      PTHSAFE_ASSIGN(auto b, take(8));
      std::uint64_t bits = 0;
      for (int i = 0; i < 8; ++i) bits = (bits << 8) | static_cast<unsigned char>(b[static_cast<std::size_t>(i)]);
      PTHSAFE_ASSIGN(auto v, alloc(value_kind::floating));
      va::f(*v) = std::bit_cast<double>(bits);
      return push(v);
    }
    case op::FLOAT: {
      PTHSAFE_ASSIGN(auto line, take_line());
      double d;
      if (!float_from_text(line, d)) return fail(errc::pickle_bad_text, "float operand is not repr() text");
      PTHSAFE_ASSIGN(auto v, alloc(value_kind::floating));
      va::f(*v) = d;
      return push(v);
    }
    case op::BINUNICODE: { PTHSAFE_ASSIGN(auto n, take_le<std::uint32_t>());
      PTHSAFE_ASSIGN(auto s, take_sized(n)); return push_unicode(s); }
    case op::SHORT_BINUNICODE: { PTHSAFE_ASSIGN(auto n, take_le<std::uint8_t>());
      PTHSAFE_ASSIGN(auto s, take_sized(n)); return push_unicode(s); }
    case op::BINUNICODE8: { PTHSAFE_ASSIGN(auto n, take_le<std::uint64_t>());
      PTHSAFE_ASSIGN(auto s, take_sized(n)); return push_unicode(s); }
    case op::UNICODE: {
      PTHSAFE_ASSIGN(auto line, take_line());
      std::string s;
      if (!raw_unicode_escape_decode(line, s)) return fail(errc::pickle_bad_text, "malformed raw-unicode-escape text");
      return push_text(value_kind::string, s);
    }
    case op::SHORT_BINSTRING: { PTHSAFE_ASSIGN(auto n, take_le<std::uint8_t>());
      PTHSAFE_ASSIGN(auto s, take_sized(n)); return push_py2_string(s); }
    case op::BINSTRING: {
      PTHSAFE_ASSIGN(auto n, take_le<std::uint32_t>());
      if (static_cast<std::int32_t>(n) < 0) return fail(errc::pickle_bad_operand, "BINSTRING with a negative byte count");
      PTHSAFE_ASSIGN(auto s, take_sized(n));
      return push_py2_string(s);
    }
    case op::STRING: {
      PTHSAFE_ASSIGN(auto line, take_line());
      if (line.size() < 2 || line.front() != line.back() || (line.front() != '\'' && line.front() != '"'))
        return fail(errc::pickle_bad_text, "STRING operand must be quoted");
      std::string s;
      if (!escape_decode(line.substr(1, line.size() - 2), s)) return fail(errc::pickle_bad_text, "malformed string escape");
      return push_py2_string(s);
    }
    case op::BINBYTES: { PTHSAFE_ASSIGN(auto n, take_le<std::uint32_t>());
      PTHSAFE_ASSIGN(auto s, take_sized(n)); return push_text(value_kind::bytes, s); }
    case op::SHORT_BINBYTES: { PTHSAFE_ASSIGN(auto n, take_le<std::uint8_t>());
      PTHSAFE_ASSIGN(auto s, take_sized(n)); return push_text(value_kind::bytes, s); }
    case op::BINBYTES8: { PTHSAFE_ASSIGN(auto n, take_le<std::uint64_t>());
      PTHSAFE_ASSIGN(auto s, take_sized(n)); return push_text(value_kind::bytes, s); }
    case op::BYTEARRAY8: {
      PTHSAFE_ASSIGN(auto n, take_le<std::uint64_t>());
      PTHSAFE_ASSIGN(auto s, take_sized(n));
      return push_text(value_kind::bytes, s, flag_bytearray);
    }
    case op::EMPTY_TUPLE: {  // () is one object in CPython too; torch writes one per tensor (hooks' args)
      PTHSAFE_ASSIGN(auto v, interned(empty_tuple_node, value_kind::tuple, 1, 0));  // height 1, as set_height gives
      return push(v);
    }
    case op::EMPTY_LIST: { PTHSAFE_ASSIGN(auto v, alloc(value_kind::list)); return push(v); }
    case op::EMPTY_DICT: { PTHSAFE_ASSIGN(auto v, alloc(value_kind::dict)); return push(v); }
    case op::EMPTY_SET: { PTHSAFE_ASSIGN(auto v, alloc(value_kind::set)); return push(v); }
    case op::TUPLE: case op::LIST: {
      if (marks.empty()) return fail(errc::pickle_no_mark, "no MARK to pop to");
      const std::size_t at = marks.back();
      PTHSAFE_ASSIGN(auto v, make_container(code == op::TUPLE ? value_kind::tuple : value_kind::list,
                                       std::span<value* const>(stack).subspan(at)));
      marks.pop_back();
      stack.truncate(at);
      return push(v);
    }
    case op::TUPLE1: case op::TUPLE2: case op::TUPLE3: {
      const std::size_t n = code - op::TUPLE1 + 1;
      if (stack.size() < fence() + n) return fail(errc::pickle_stack_underflow, "tuple needs more items than the stack holds");
      PTHSAFE_ASSIGN(auto v, make_container(value_kind::tuple, std::span<value* const>(stack).last(n)));
      stack.truncate(stack.size() - n);
      return push(v);
    }
    case op::DICT: {
      PTHSAFE_ASSIGN(auto items, pop_mark());
      if (items.size() % 2) return fail(errc::pickle_bad_operand, "odd number of items for DICT");
      PTHSAFE_ASSIGN(auto d, alloc(value_kind::dict));
      for (std::size_t i = 0; i < items.size(); i += 2) PTHSAFE_TRY(set_item(*d, items[i], items[i + 1]));
      return push(d);
    }
    case op::FROZENSET: {
      PTHSAFE_ASSIGN(auto items, pop_mark());
      PTHSAFE_ASSIGN(auto s, alloc(value_kind::frozenset));
      PTHSAFE_TRY(set_height(*s, items));
      for (value* it : items) PTHSAFE_TRY(set_add(*s, it));
      PTHSAFE_TRY(index_frozenset(*s));
      return push(s);
    }
    case op::APPEND: {
      PTHSAFE_ASSIGN(auto item, pop());
      PTHSAFE_ASSIGN(auto target, top());
      if (target->kind() != value_kind::list) return fail(errc::pickle_append_refused, "APPEND to a non-list");
      if (target->items().size() >= lim.max_container_items) return limit("max_container_items", lim.max_container_items);
      return append(*target, std::span<value* const>(&item, 1));
    }
    case op::APPENDS: {
      PTHSAFE_ASSIGN(auto items, pop_mark());
      PTHSAFE_ASSIGN(auto target, top());
      if (target->kind() != value_kind::list) return fail(errc::pickle_append_refused, "APPENDS to a non-list");
      if (items.size() > lim.max_container_items - target->items().size())
        return limit("max_container_items", lim.max_container_items);
      return append(*target, items);
    }
    case op::ADDITEMS: {
      PTHSAFE_ASSIGN(auto items, pop_mark());
      PTHSAFE_ASSIGN(auto target, top());
      if (target->kind() != value_kind::set) return fail(errc::pickle_bad_operand, "ADDITEMS to a non-set");
      for (value* it : items) PTHSAFE_TRY(set_add(*target, it));
      return {};
    }
    case op::SETITEM: {
      PTHSAFE_ASSIGN(auto v, pop());
      PTHSAFE_ASSIGN(auto k, pop());
      PTHSAFE_ASSIGN(auto target, top());
      if (target->kind() != value_kind::dict && target->kind() != value_kind::ordered_dict)
        return fail(errc::pickle_setitem_refused, "SETITEM on a non-dict");
      return set_item(*target, k, v);
    }
    case op::SETITEMS: {
      PTHSAFE_ASSIGN(auto items, pop_mark());
      PTHSAFE_ASSIGN(auto target, top());
      if (target->kind() != value_kind::dict && target->kind() != value_kind::ordered_dict)
        return fail(errc::pickle_setitem_refused, "SETITEMS on a non-dict");
      if (items.size() % 2) return fail(errc::pickle_bad_operand, "odd number of items for SETITEMS");
      for (std::size_t i = 0; i < items.size(); i += 2) PTHSAFE_TRY(set_item(*target, items[i], items[i + 1]));
      return {};
    }
    case op::POP:
      // pickle.py and _pickle.c agree: with the current frame empty, POP discards the MARK.
      if (stack.size() == fence() && !marks.empty()) { marks.pop_back(); return {}; }
      { PTHSAFE_ASSIGN(auto v, pop()); (void)v; }
      return {};
    case op::POP_MARK: { PTHSAFE_ASSIGN(auto items, pop_mark()); (void)items; return {}; }
    case op::DUP: { PTHSAFE_ASSIGN(auto v, top()); clear_fresh(*v); return push(v); }
    case op::BINPUT: { PTHSAFE_ASSIGN(auto i, take_le<std::uint8_t>()); return memo_put(i); }
    case op::LONG_BINPUT: { PTHSAFE_ASSIGN(auto i, take_le<std::uint32_t>()); return memo_put(i); }
    case op::PUT: { PTHSAFE_ASSIGN(auto line, take_line());
      PTHSAFE_ASSIGN(auto i, decimal_index(line)); return memo_put(i); }
    case op::MEMOIZE: return memo_put(memo_count);
    case op::BINGET: { PTHSAFE_ASSIGN(auto i, take_le<std::uint8_t>()); return memo_get(i); }
    case op::LONG_BINGET: { PTHSAFE_ASSIGN(auto i, take_le<std::uint32_t>()); return memo_get(i); }
    case op::GET: { PTHSAFE_ASSIGN(auto line, take_line());
      PTHSAFE_ASSIGN(auto i, decimal_index(line)); return memo_get(i); }
    case op::GLOBAL: {
      PTHSAFE_ASSIGN(auto module, take_line());
      PTHSAFE_ASSIGN(auto name, take_line());
      if (!valid_utf8(module, false) || !valid_utf8(name, false)) return fail(errc::pickle_bad_text, "GLOBAL names are not UTF-8");
      return global(std::string(module), std::string(name));
    }
    case op::STACK_GLOBAL: {
      PTHSAFE_ASSIGN(auto name, pop());
      PTHSAFE_ASSIGN(auto module, pop());
      if (name->kind() != value_kind::string || module->kind() != value_kind::string)
        return fail(errc::pickle_bad_operand, "STACK_GLOBAL requires two strings");
      return global(std::string(module->text()), std::string(name->text()));
    }
    case op::REDUCE: {
      PTHSAFE_ASSIGN(auto args, pop());
      PTHSAFE_ASSIGN(auto callable, pop());
      if (args->kind() != value_kind::tuple) return fail(errc::pickle_bad_operand, "REDUCE arguments are not a tuple");
      PTHSAFE_ASSIGN(auto out, m.target_.reduce(*callable, *args));
      if (m.target_.consumes_reduce_args(*callable, *args)) {
        recycle(*args, 2);
        set_fresh(*out);  // a new node of the target's, held by this stack slot alone
      } else {
        clear_fresh(*args);  // the target may keep it, or return a node in it
        clear_fresh(*out);
      }
      return push(out);
    }
    case op::NEWOBJ: {
      PTHSAFE_ASSIGN(auto args, pop());
      PTHSAFE_ASSIGN(auto cls, pop());
      if (args->kind() != value_kind::tuple) return fail(errc::pickle_bad_operand, "NEWOBJ arguments are not a tuple");
      PTHSAFE_ASSIGN(auto out, m.target_.newobj(*cls, *args));
      clear_fresh(*args);
      clear_fresh(*out);
      return push(out);
    }
    case op::BUILD: {
      PTHSAFE_ASSIGN(auto state, pop());
      PTHSAFE_ASSIGN(auto inst, top());
      clear_fresh(*state);
      clear_fresh(*inst);
      return m.target_.build(*inst, *state);
    }
    case op::BINPERSID: {
      PTHSAFE_ASSIGN(auto pid, pop());
      PTHSAFE_ASSIGN(auto out, m.target_.persistent_load(*pid));
      if (m.target_.consumes_persistent_ids()) {
        recycle(*pid, 1);
        set_fresh(*out);  // a new node of the target's, held by this stack slot alone
      } else {
        clear_fresh(*pid);
        clear_fresh(*out);
      }
      return push(out);
    }
    case op::PROTO: {
      PTHSAFE_ASSIGN(auto p, take_le<std::uint8_t>());
      if (p > 5) return fail(errc::pickle_bad_operand, "unsupported pickle protocol " + std::to_string(p));
      return {};
    }
    case op::FRAME: {
      // pickle.py refuses a new frame while the current one still has bytes.
      if (frame_end && c.pos() < frame_end) return fail(errc::pickle_bad_operand, "FRAME before the end of the current frame");
      frame_end = 0;
      PTHSAFE_ASSIGN(auto n, take_le<std::uint64_t>());
      if (n > c.remaining()) return fail(errc::pickle_truncated, "FRAME is longer than the pickle");
      frame_end = n ? c.pos() + n : 0;
      return {};
    }
    default:
      return fail(errc::pickle_unknown_opcode, "opcode " + hex_byte(code));
  }
}

result<value*> machine::impl::run(std::uint64_t& stop_end) {
  const bool templates = tensor_template_enabled();
  for (;;) {
    if (c.pos() >= next_release) release_to(c.pos());
    if (frame_end && c.pos() == frame_end) frame_end = 0;
    m.op_pos_ = c.pos();
    if (c.remaining() == 0) return truncated();
    std::uint8_t code;
    c.u8(code);
    // The opcodes torch writes for every tensor, outside a FRAME (torch pickles with protocol
    // 2, which has none) and with their operand present: the same work as step()'s cases,
    // without the layers of result<> that reading an operand through take() costs there
    // (bench/NOTES.md 35). All are op_class::torch; anything else, or a short operand, goes
    // the general way below.
    if (frame_end == 0) {
      const unsigned char* p = c.here();
      const std::uint64_t left = c.remaining();
      switch (code) {
        case op::BINPUT: case op::LONG_BINPUT: case op::BINGET: case op::LONG_BINGET: {
          const bool wide = code == op::LONG_BINPUT || code == op::LONG_BINGET;
          const std::uint64_t width = wide ? 4 : 1;
          if (left < width) break;
          const std::uint64_t idx = wide ? le32(p) : p[0];
          // The rebuild function fetched and a MARK next: maybe torch's per-tensor opcodes.
          if (templates && (code == op::BINGET || code == op::LONG_BINGET) && left > width && p[width] == op::MARK)
            if (value** fn = memo_slot(idx); fn && (*fn)->kind() == value_kind::global &&
                                             global_of(**fn).id == global_id::rebuild_tensor_v2)
              if (match_tensor_template(all, m.op_pos_, matched)) {
                template_nodes nodes;
                if (template_fits(matched, nodes)) {
                  PTHSAFE_TRY(run_template(matched, nodes));
                  c.seek(matched.end);
                  continue;
                }
              }
          c.skip(width);
          PTHSAFE_TRY(code == op::BINPUT || code == op::LONG_BINPUT ? memo_put_next(idx) : memo_get(idx));
          continue;
        }
        case op::BININT1:
          if (left < 1) break;
          c.skip(1);
          PTHSAFE_TRY(push_small_int(p[0]));
          continue;
        case op::MARK:
          PTHSAFE_TRY(push_mark());
          continue;
        // Operand-less torch opcodes: straight to their case, past the class and STOP checks.
        case op::TUPLE: case op::TUPLE1: case op::TUPLE2: case op::TUPLE3: case op::EMPTY_TUPLE:
        case op::NEWFALSE: case op::NEWTRUE: case op::REDUCE: case op::BINPERSID: case op::SETITEMS:
          PTHSAFE_TRY(step(code));
          continue;
        case op::BINUNICODE: {  // a key, 'storage', a storage key, 'cpu'
          if (left < 4) break;
          const std::uint32_t n = le32(p);
          if (n > lim.max_string_bytes || n > left - 4) break;  // the general way reports it
          c.skip(4 + std::uint64_t{n});
          PTHSAFE_TRY(push_unicode(std::string_view(reinterpret_cast<const char*>(p + 4), n)));
          continue;
        }
        default: break;
      }
    }
    const opcode_info& info = opcode_table[code];
    switch (info.cls) {
      case op_class::unknown: return fail(errc::pickle_unknown_opcode, "byte " + hex_byte(code) + " is not a pickle opcode");
      case op_class::refused:
        return fail(errc::pickle_opcode_refused, "opcode " + std::string(info.name) + " (" + hex_byte(code) + ") is refused");
      case op_class::data_only:
        if (m.opts_.strict_torch)
          return fail(errc::pickle_opcode_not_torch,
                      "opcode " + std::string(info.name) + ": torch.load(weights_only=True) does not implement it");
        if (!warned[code]) {
          warned[code] = true;
          m.st_.warnings.push_back(m.record_ + "@" + std::to_string(m.op_pos_) + ": opcode " + std::string(info.name) +
                                   ": torch.load(weights_only=True) would refuse it");
        }
        break;
      case op_class::torch: break;
    }
    if (code == op::STOP) {
      // CPython's pickler ends the last frame right after STOP. Bytes after STOP inside the
      // frame are read by no unpickler, and where the next pickle starts depends on the reader:
      // _pickle read()s a frame of 8 KiB or more (and any frame of a file without peek()),
      // pickle.py always does, so they resume at the frame's end; _pickle peek()s smaller frames
      // of a buffered file and resumes right after STOP.
      if (frame_end && c.pos() < frame_end)
        return fail(errc::pickle_stop_inside_frame, std::to_string(frame_end - c.pos()) +
                                                        " bytes follow STOP inside its FRAME: CPython resumes at the "
                                                        "frame's end or after STOP, by reader");
      PTHSAFE_ASSIGN(auto root, pop());
      if (!stack.empty() || !marks.empty())
        m.st_.warnings.push_back(m.record_ + "@" + std::to_string(m.op_pos_) +
                                 ": values or MARKs left on the stack at STOP (ignored, as CPython does)");
      stop_end = c.pos();
      PTHSAFE_TRY(check_tree(root));
      return root;
    }
    PTHSAFE_TRY(step(code));
  }
}

// One iterative walk of the result: refuses cycles (a container inside itself, which no tree
// consumer could walk) and nesting deeper than max_nesting_depth. Nodes may be shared, so depth
// is the height of the graph (the longest path), not the depth at which a node was first seen.
result<void> machine::impl::check_tree(const value* root) {
  constexpr std::uint32_t grey = ~std::uint32_t{0};
  std::unordered_map<const value*, std::uint32_t> height;  // finished nodes: their height
  struct frame { const value* v; std::size_t next; std::uint32_t h; };
  std::vector<frame> path;
  auto child = [](const value* v, std::size_t i) -> const value* {
    const auto items = v->items();
    if (i < items.size()) return items[i];
    const auto attrs = v->attrs();
    if (i - items.size() < attrs.size()) return attrs[i - items.size()].second;
    return nullptr;
  };
  auto is_leaf = [](const value* v) { return v->items().empty() && v->attrs().empty(); };
  if (is_leaf(root)) return {};
  // The map's entries are charged to the tree budget as they are made (and stay charged: the
  // walkers that run after a load build maps of the same size): 1.45 M one-item lists made
  // 70 MB of entries no limit saw.
  if (!m.st_.charge(walk_entry_bytes)) return limit("max_tree_bytes", lim.max_tree_bytes);
  height[root] = grey;
  path.push_back({root, 0, 1});
  while (!path.empty()) {
    frame& f = path.back();
    const value* ch = child(f.v, f.next++);
    if (!ch) {
      const std::uint32_t h = f.h;
      height[f.v] = h;
      path.pop_back();
      if (!path.empty()) path.back().h = std::max(path.back().h, h + 1);
      continue;
    }
    if (is_leaf(ch)) continue;
    const auto it = height.find(ch);
    if (it != height.end()) {
      if (it->second == grey) return fail(errc::pickle_cycle, "a container contains itself");
      f.h = std::max(f.h, it->second + 1);
      if (f.h + path.size() - 1 > lim.max_nesting_depth) return limit("max_nesting_depth", lim.max_nesting_depth);
      continue;
    }
    if (path.size() >= lim.max_nesting_depth) return limit("max_nesting_depth", lim.max_nesting_depth);
    if (!m.st_.charge(walk_entry_bytes)) return limit("max_tree_bytes", lim.max_tree_bytes);
    height.emplace(ch, grey);
    path.push_back({ch, 0, 1});  // invalidates f
  }
  return {};
}

result<value*> machine::run(std::span<const std::byte> pickle, std::uint64_t& stop_end) {
  if (pickle.size() > opts_.limits.max_pickle_bytes)
    return make_error(errc::limit_exceeded,
                      "limit max_pickle_bytes (" + std::to_string(opts_.limits.max_pickle_bytes) + ") exceeded", record_, 0);
  st_.key_budget = std::min<std::uint64_t>(opts_.limits.max_key_compare_nodes, 256 + std::min<std::uint64_t>(pickle.size(), UINT64_MAX / 8) * 4);
  impl run_state(*this, pickle);
  if (!ahead_ || !ahead_->take(pickle, opts_.limits.max_memo_entries, run_state.reads))
    run_state.reads = memo_reads::of(pickle, opts_.limits.max_memo_entries);
  run_state.start_releasing(release_);
  auto root = run_state.run(stop_end);
  run_state.release_to(run_state.c.pos());
  count_tensor_template_uses(run_state.templates_used);
  return root;
}

}  // namespace pthsafe::detail
