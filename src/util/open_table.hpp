// One open-addressing index for the whole library: entries are small integer ids (positions in
// the caller's own array) filed under a 64-bit hash the caller computes. Where keys come from the
// file the hash must be keyed (util/keyed_hash.hpp: SipHash with a per-process key), so that a
// file cannot choose keys that collide. Lookups confirm each candidate with the caller's
// equality; the table never sees keys, so it allocates nothing per entry. A slot keeps 32 bits
// of the spread hash (which also place it) and the id: 8 bytes, so that the index of a
// 100,000-key state_dict costs 2 MB, not 4 (bench/NOTES.md 31); a tag match that is not the key
// costs one more call of the caller's equality, never a wrong answer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <vector>

namespace pthsafe::detail {

class open_table {
 public:
  static constexpr std::size_t slot_bytes = 8;

  open_table() = default;
  /// Sized up front for `expected` entries (at most half full), so that a table built from a
  /// known count never grows.
  explicit open_table(std::size_t expected) { slots_.resize(capacity_for(expected)); }

  std::size_t size() const noexcept { return count_; }
  /// Bytes the table holds now.
  std::size_t bytes() const noexcept { return slots_.size() * slot_bytes; }
  /// Bytes by which the next insert grows the table (0 unless it must grow): charge it first.
  std::size_t growth_bytes() const noexcept {
    return needs_growth() ? (slots_.empty() ? min_slots : 2 * slots_.size()) * slot_bytes - bytes() : 0;
  }
  /// Files `id` under `h` (ids need not be unique per hash; callers check with find first).
  void insert(std::uint64_t h, std::uint32_t id) {
    if (needs_growth()) grow();
    put(tag(h), id);
    ++count_;
  }
  /// The first id filed under `h` for which eq(id) holds.
  template <class Eq>
  std::optional<std::uint32_t> find(std::uint64_t h, Eq&& eq) const {
    std::size_t unused = 0;
    return find(h, eq, unused);
  }
  /// The same; when nothing matches, `empty_at` is where insert_at files `h`, as long as the
  /// table has not changed since.
  template <class Eq>
  std::optional<std::uint32_t> find(std::uint64_t h, Eq&& eq, std::size_t& empty_at) const {
    empty_at = SIZE_MAX;
    if (slots_.empty()) return std::nullopt;
    const std::size_t mask = slots_.size() - 1;
    const std::uint32_t t = tag(h);
    std::size_t i = t & mask;
    for (; slots_[i].id1; i = (i + 1) & mask)
      if (slots_[i].tag == t && eq(slots_[i].id1 - 1)) return slots_[i].id1 - 1;
    empty_at = i;
    return std::nullopt;
  }
  /// insert(h, id) in the slot a find of `h` with no match gave (the table unchanged since; a
  /// table that must grow first files it afresh): one probe for a find and insert of one key.
  void insert_at(std::uint64_t h, std::uint32_t id, std::size_t empty_at) {
    if (needs_growth() || empty_at >= slots_.size() || slots_[empty_at].id1) {
      insert(h, id);
      return;
    }
    slots_[empty_at] = {tag(h), id + 1};
    ++count_;
  }

 private:
  struct slot {
    std::uint32_t tag = 0;  // tag(hash): its low bits are the home slot
    std::uint32_t id1 = 0;  // id + 1; 0 = empty
  };
  static_assert(sizeof(slot) == slot_bytes);
  static constexpr std::size_t min_slots = 16;

  static std::size_t capacity_for(std::size_t n) {
    std::size_t cap = min_slots;
    while (cap < 2 * n + 2) cap *= 2;
    return cap;
  }
  // The caller's hash is keyed but may be a combination (tuples): one finalizer round spreads
  // its low bits over the slots.
  // Tables hold fewer than 2^32 slots (ids are 32-bit), so 32 bits place every slot.
  static std::uint32_t tag(std::uint64_t h) noexcept {
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return static_cast<std::uint32_t>(h >> 32);
  }
  bool needs_growth() const noexcept { return (count_ + 1) * 2 > slots_.size(); }
  void put(std::uint32_t t, std::uint32_t id) {
    const std::size_t mask = slots_.size() - 1;
    std::size_t i = t & mask;
    while (slots_[i].id1) i = (i + 1) & mask;
    slots_[i] = {t, id + 1};
  }
  void grow() {
    std::vector<slot> old(slots_.empty() ? min_slots : 2 * slots_.size());
    old.swap(slots_);
    for (const slot& s : old)
      if (s.id1) put(s.tag, s.id1 - 1);
  }

  std::vector<slot> slots_;
  std::size_t count_ = 0;
};

}  // namespace pthsafe::detail
