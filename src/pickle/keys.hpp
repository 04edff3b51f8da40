// Python's key semantics for dict keys and set items (hashability, hash, equality) for the kinds
// a checkpoint can hold; used by the pickle machine and the torch rebuild layer.
#pragma once

#include <cstdint>

#include "model/state.hpp"

namespace pthsafe::detail {

/// Hashability and equality of dict keys / set items, as Python defines them for the kinds a
/// checkpoint can hold (1 == 1.0 == True; tuples by items; tensors by identity).
/// O(1): a tuple's hashability is fixed when it is built (flag_unhashable). Inline: the machine
/// asks it for every tuple item it builds.
inline bool is_hashable(const value& v) noexcept {
  switch (v.kind()) {
    case value_kind::list: case value_kind::dict: case value_kind::ordered_dict: case value_kind::set:
    case value_kind::ndarray:  // numpy arrays are unhashable
      return false;
    case value_kind::bytes: return (value_access::small(const_cast<value&>(v)) & flag_bytearray) == 0;
    case value_kind::tuple: return (value_access::small(const_cast<value&>(v)) & flag_unhashable) == 0;
    default: return true;  // size holds ints only; a frozenset's items were checked when added
  }
}
/// Hash consistent with keys_equal (1, 1.0 and True hash alike; -0.0 as 0.0). Linear in the
/// number of distinct nodes: tuple and frozenset hashes are cached in the node on first use, so
/// shared subtrees ((t, t) nested 60 deep) are hashed once, not 2^60 times. Call it only while
/// the graph is still owned by one thread (during a load).
std::uint64_t key_hash(const value& v) noexcept;
/// Key equality. Every node compared takes one unit of `budget`; when it reaches zero the walk
/// stops and returns false, and the caller must report limit max_key_compare_nodes (two distinct but
/// equal DAGs of shared tuples would otherwise compare in exponential time, as in CPython).
bool keys_equal(const value& a, const value& b, std::uint64_t& budget) noexcept;
/// The message of the limit_exceeded error for a spent checkpoint_state::key_budget.
inline constexpr const char* key_budget_message =
    "limit max_key_compare_nodes exceeded comparing dict keys or set items (at most 4 nodes per pickle "
    "byte + 256)";

}  // namespace pthsafe::detail
