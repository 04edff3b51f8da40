// Keyed hashing for every table indexed by what a file contains (dict keys, set items, memo
// indices, storage keys, zip names, attribute names). The key is drawn at random once per
// process, so a file cannot be built to make its keys collide: an unkeyed hash (FNV, the
// identity std::hash of integers) lets 90,000 chosen keys cost 4 * 10^9 probes.
// SipHash-1-3 (Aumasson and Bernstein), written from the paper's description.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace pthsafe::detail {

/// Streaming SipHash-1-3 under the process key; `tag` separates domains (str vs bytes, ...).
class siphash13 {
 public:
  explicit siphash13(std::uint64_t tag = 0) noexcept;
  void add(std::string_view bytes) noexcept;
  void add_u64(std::uint64_t x) noexcept;
  /// The hash of everything added so far (the state itself is left as it was).
  std::uint64_t finish() const noexcept;

 private:
  void block(std::uint64_t m) noexcept;
  std::uint64_t v0_, v1_, v2_, v3_;
  std::uint64_t buf_ = 0;
  unsigned buffered_ = 0;  // bytes in buf_ (0..7)
  std::uint64_t total_ = 0;
};

std::uint64_t keyed_hash(std::string_view bytes, std::uint64_t tag = 0) noexcept;
std::uint64_t keyed_hash_u64(std::uint64_t x, std::uint64_t tag = 0) noexcept;

/// Hasher for unordered containers keyed by file-controlled strings (transparent: string_view
/// lookups need no copy).
struct keyed_string_hash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept { return static_cast<std::size_t>(keyed_hash(s)); }
  std::size_t operator()(const std::string& s) const noexcept { return static_cast<std::size_t>(keyed_hash(s)); }
};
/// Hasher for unordered containers keyed by file-controlled integers (memo indices, offsets).
struct keyed_u64_hash {
  std::size_t operator()(std::uint64_t x) const noexcept { return static_cast<std::size_t>(keyed_hash_u64(x)); }
};

}  // namespace pthsafe::detail
