// The opcodes torch's pickler writes for one tensor (protocol 2, `_rebuild_tensor_v2`) once the
// shared objects have been memoised by an earlier one:
//
//   BINGET rebuild  MARK  MARK BINGET 'storage' BINGET class  key  BINGET location numel TUPLE PUT
//   BINPERSID  offset  size  stride  NEWFALSE|NEWTRUE  BINGET OrderedDict EMPTY_TUPLE REDUCE PUT
//   TUPLE PUT  REDUCE
//
// (key: BINUNICODE + PUT, or BINGET of a key memoised before; numel, offset and the dims:
// BININT1/BININT2/BININT; size and stride: EMPTY_TUPLE, 1-3 ints + TUPLE1-3 + PUT, or MARK +
// up to max_dims ints + TUPLE + PUT; PUT: BINPUT or LONG_BINPUT; BINGET: or LONG_BINGET.)
//
// match_tensor_template only reads bytes: it says where each piece is, and nothing about the
// machine's state. The machine (pickle/machine.cpp, fused_tensor) then checks that state and
// makes the same calls and memo entries the opcodes would, without the intermediate tuples and
// stack traffic (bench/NOTES.md 48). Anything else, a byte off, goes the general way.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace pthsafe::detail {

struct tensor_template {
  static constexpr std::size_t max_dims = 8;
  struct key_ref {
    bool is_get = false;      // BINGET of a key memoised before; else BINUNICODE + PUT
    std::uint64_t get = 0;
    std::string_view text;    // BINUNICODE's bytes (not yet checked as UTF-8)
    std::uint64_t put = 0;
  };
  struct dims {
    std::array<std::int64_t, max_dims> v{};
    std::uint8_t n = 0;
    bool put_present = false;  // EMPTY_TUPLE is not memoised
    std::uint64_t put = 0;
    bool mark = false;         // MARK ... TUPLE (one more MARK level)
  };
  std::uint64_t rebuild_get = 0;
  std::uint64_t storage_get = 0, class_get = 0, location_get = 0;
  key_ref key;
  std::int64_t numel = 0;
  std::uint64_t pid_put = 0;
  std::uint64_t persid_at = 0;  // offset of BINPERSID
  std::int64_t offset = 0;
  dims size, stride;
  bool requires_grad = false;
  std::uint64_t hooks_get = 0;
  std::uint64_t hooks_reduce_at = 0;  // offset of OrderedDict()'s REDUCE
  std::uint64_t hooks_put = 0;
  std::uint64_t args_put = 0;
  std::uint64_t reduce_at = 0;  // offset of the final REDUCE
  std::uint64_t end = 0;        // offset after it
};

/// The template at `at` (the rebuild function's BINGET), or nullopt when the bytes differ from
/// it anywhere. Reads only [at, end): never past the pickle.
std::optional<tensor_template> match_tensor_template(std::span<const std::byte> pickle, std::uint64_t at) noexcept;
/// The same match into `t`, which a machine keeps for its run: true when the bytes are the
/// template (then every field the template names is set); false leaves `t` unspecified.
bool match_tensor_template(std::span<const std::byte> pickle, std::uint64_t at, tensor_template& t) noexcept;

/// Test and fuzzing hook: false sends every tensor the general way, so that the two can be
/// compared on the same bytes. Process-wide; true by default.
void set_tensor_template_enabled(bool on) noexcept;
bool tensor_template_enabled() noexcept;
/// Tensors the machine rebuilt through the template since the process started (tests show that
/// a comparison exercised it).
std::uint64_t tensor_template_uses() noexcept;
void count_tensor_template_uses(std::uint64_t n) noexcept;

}  // namespace pthsafe::detail
