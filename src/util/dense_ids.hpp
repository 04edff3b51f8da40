// Small canonical decimals ("0", "17": the storage keys and data/<key> record names torch writes)
// looked up by position in a plain array instead of hashed. A 100,000-storage checkpoint looks
// each storage up twice (record name, storage key); hashing the name and probing a table of
// 100,000s of slots cost a cache miss each (bench/NOTES.md 19). Only what the text spells
// decides where a key is filed, so a key is always in exactly one of the array and the caller's
// hash table: a lookup asks the one the key's spelling selects.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace pthsafe::detail {

/// n when `s` is "0" or [1-9][0-9]* (at most 9 digits: no overflow) and n < bound; else nullopt.
/// Leading zeros, signs and spaces are not canonical ("05" is another name than "5").
inline std::optional<std::size_t> small_decimal(std::string_view s, std::size_t bound) noexcept {
  if (s.empty() || s.size() > 9 || (s.size() > 1 && s[0] == '0')) return std::nullopt;
  std::size_t n = 0;
  for (const char ch : s) {
    if (ch < '0' || ch > '9') return std::nullopt;
    n = n * 10 + static_cast<std::size_t>(ch - '0');
  }
  if (n >= bound) return std::nullopt;
  return n;
}

/// Ids filed under small decimals below a bound fixed at construction (the caller's entry
/// count: the array costs 4 bytes per entry the file already holds, whatever its keys spell).
class dense_ids {
 public:
  dense_ids() = default;
  explicit dense_ids(std::size_t bound) : id1_(bound, 0) {}
  std::size_t bound() const noexcept { return id1_.size(); }
  /// The id filed under n (< bound()), if any.
  std::optional<std::uint32_t> get(std::size_t n) const noexcept {
    if (n >= id1_.size() || id1_[n] == 0) return std::nullopt;
    return id1_[n] - 1;
  }
  /// Files id (< UINT32_MAX) under n (< bound()), replacing any earlier id.
  void set(std::size_t n, std::uint32_t id) noexcept {
    if (n < id1_.size() && id < UINT32_MAX) id1_[n] = id + 1;
  }

 private:
  std::vector<std::uint32_t> id1_;  // id + 1; 0 = none
};

}  // namespace pthsafe::detail
