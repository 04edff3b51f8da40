// The restricted pickle machine: one pass over a pickle, CPython's semantics for every accepted
// opcode, nothing ever called. Allowed globals become inert values; the calls REDUCE, NEWOBJ,
// BUILD and BINPERSID make on them are handed to a call_target (the torch rebuild layer).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "model/state.hpp"
#include "pickle/globals.hpp"
#include "pthsafe/error.hpp"
#include "pthsafe/options.hpp"

namespace pthsafe::detail {

/// What the machine cannot decide alone. Each returns the new value or an error.
class call_target {
 public:
  virtual ~call_target() = default;
  /// REDUCE: `callable` is a global (or a caller-allowed global); `args` a tuple.
  virtual result<value*> reduce(value& callable, value& args) = 0;
  /// NEWOBJ: cls.__new__(cls, *args).
  virtual result<value*> newobj(value& cls, value& args) = 0;
  /// BUILD: applies `state` to `inst` in place.
  virtual result<void> build(value& inst, value& state) = 0;
  /// BINPERSID: the object a persistent id names.
  virtual result<value*> persistent_load(value& pid) = 0;
  /// GLOBAL "module.name" outside the default allowlist: names this target admits on its own
  /// (TorchScript's naming conventions when the caller asked for TorchScript), else nullopt.
  virtual std::optional<global_ref> resolve_global(std::string_view /*full*/) { return std::nullopt; }
};

/// The global_ref a value_kind::global node stands for.
global_ref global_of(const value& v) noexcept;

/// Hashability and equality of dict keys / set items, as Python defines them for the kinds a
/// checkpoint can hold (1 == 1.0 == True; tuples by items; tensors by identity).
/// O(1): a tuple's hashability is fixed when it is built (flag_unhashable).
bool is_hashable(const value& v) noexcept;
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

class machine {
 public:
  machine(checkpoint_state& st, call_target& target, const load_options& opts, std::string record);
  /// Runs the pickle from its first byte to STOP. `stop_end` receives the offset after STOP.
  /// Errors: pickle_*, limit_exceeded, and whatever the call_target returns.
  result<value*> run(std::span<const std::byte> pickle, std::uint64_t& stop_end);
  /// Current opcode's offset (for errors raised by the call target).
  std::uint64_t opcode_offset() const noexcept { return op_pos_; }
  const std::string& record() const noexcept { return record_; }

 private:
  struct impl;
  checkpoint_state& st_;
  call_target& target_;
  const load_options& opts_;
  std::string record_;
  std::uint64_t op_pos_ = 0;
};

}  // namespace pthsafe::detail
