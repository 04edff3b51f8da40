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

#include "io/release_behind.hpp"
#include "model/state.hpp"
#include "pickle/globals.hpp"
#include "pickle/keys.hpp"
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
  /// True when a successful reduce(callable, args) keeps no reference to `args` or anything in
  /// it (it copies what it needs) and returns a node of its own: the machine may then reuse the
  /// argument nodes only it holds. The default (false) is always safe. The answers for a given
  /// callable node must not change while the machine runs (it may ask once per callable).
  virtual bool consumes_reduce_args(const value& /*callable*/, const value& /*args*/) const { return false; }
  /// The same for persistent_load(pid), whose result must moreover be a new node no one else
  /// holds.
  virtual bool consumes_persistent_ids() const { return false; }
  /// True when rebuild_tensor_v2 below is this target's reduce() on a _rebuild_tensor_v2 global,
  /// for the arguments it lists. The machine asks once per run; the default is false, and then
  /// the tensor template (pickle/tensor_template.hpp) is not used.
  virtual bool rebuilds_tensor_v2_typed() const { return false; }
  /// reduce(o, ()) for o the collections.OrderedDict global, then reduce(g, (storage, offset,
  /// size, stride, requires_grad, that OrderedDict)) for g a torch._utils._rebuild_tensor_v2
  /// global, an int offset and size and stride tuples of ints: the same checks in the same
  /// order, the same charges, errors and result, without the dict or the argument tuples.
  /// `storage` is not kept.
  virtual result<value*> rebuild_tensor_v2(value& storage, std::int64_t offset, std::span<const std::int64_t> size,
                                           std::span<const std::int64_t> stride, bool requires_grad);
};

/// The global_ref a value_kind::global node stands for.
global_ref global_of(const value& v) noexcept;

class memo_reads_ahead;

class machine {
 public:
  machine(checkpoint_state& st, call_target& target, const load_options& opts, std::string record);
  /// Runs the pickle from its first byte to STOP. `stop_end` receives the offset after STOP.
  /// Errors: pickle_*, limit_exceeded, and whatever the call_target returns.
  result<value*> run(std::span<const std::byte> pickle, std::uint64_t& stop_end);
  /// Hands the pickle's pages back (a mapped file's release_pages, which ignores bytes outside
  /// its mapping) as the machine reads past them: nothing the machine builds points into the
  /// pickle (text is copied into the arena), and a 100,000-tensor pickle (10 MB) would otherwise
  /// stay resident through the peak of the load (bench/NOTES.md 30). `release` must outlive run().
  void release_behind(const page_release& release) noexcept { release_ = &release; }
  /// Takes the memo walk from `ahead` (pickle/memo_reads_ahead.hpp) when it walked the same
  /// bytes, instead of walking in line; `ahead` must outlive run().
  void walk_ahead(memo_reads_ahead* ahead) noexcept { ahead_ = ahead; }
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
  const page_release* release_ = nullptr;
  memo_reads_ahead* ahead_ = nullptr;
};

}  // namespace pthsafe::detail
