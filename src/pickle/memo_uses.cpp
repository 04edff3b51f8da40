#include "pickle/memo_uses.hpp"

#include <algorithm>
#include <array>
#include <cstring>

#include "pickle/opcodes.hpp"

namespace pthsafe::detail {
namespace {

// Little-endian n bytes at p, n one of the operand widths 1, 2, 4, 8: each width spelled out,
// which the compiler turns into one load (a loop over n stays a loop: NOTES 45).
std::uint64_t le(const std::byte* p, std::size_t n) {
  const auto b = [p](std::size_t i) { return std::uint64_t{static_cast<unsigned char>(p[i])}; };
  switch (n) {
    case 1: return b(0);
    case 2: return b(0) | b(1) << 8;
    case 4: return b(0) | b(1) << 8 | b(2) << 16 | b(3) << 24;
    default:
      return b(0) | b(1) << 8 | b(2) << 16 | b(3) << 24 | b(4) << 32 | b(5) << 40 | b(6) << 48 | b(7) << 56;
  }
}

}  // namespace

namespace {

// What follows each opcode byte, for the walk below: one table lookup an opcode instead of a
// switch over 68 cases (the walk was 94 M instructions for a 100,000-tensor pickle; NOTES 41).
enum class operand : std::uint8_t {
  unknown,    // no opcode the machine runs: the walk cannot be exact
  fixed,      // n bytes (0: no operand)
  sized,      // an n-byte little-endian length, then that many bytes
  line,       // text through '\n'
  two_lines,  // GLOBAL, INST
  get,        // an n-byte memo index that is read back
  text_get,   // GET: a text index, left to the machine
  stop,
};
struct operand_shape {
  operand kind = operand::unknown;
  std::uint8_t n = 0;
};

constexpr std::array<operand_shape, 256> make_shapes() {
  std::array<operand_shape, 256> t{};
  for (std::size_t c = 0; c < t.size(); ++c)
    if (opcode_table[c].cls != op_class::unknown) t[c] = {operand::fixed, 0};  // no operand: 0 bytes
  t[op::STOP] = {operand::stop, 0};
  t[op::BINGET] = {operand::get, 1};
  t[op::LONG_BINGET] = {operand::get, 4};
  t[op::GET] = {operand::text_get, 0};
  for (std::uint8_t c : {op::PROTO, op::BININT1, op::BINPUT, op::EXT1}) t[c] = {operand::fixed, 1};
  for (std::uint8_t c : {op::BININT2, op::EXT2}) t[c] = {operand::fixed, 2};
  for (std::uint8_t c : {op::BININT, op::LONG_BINPUT, op::EXT4}) t[c] = {operand::fixed, 4};
  for (std::uint8_t c : {op::BINFLOAT, op::FRAME}) t[c] = {operand::fixed, 8};
  for (std::uint8_t c : {op::LONG1, op::SHORT_BINSTRING, op::SHORT_BINUNICODE, op::SHORT_BINBYTES}) t[c] = {operand::sized, 1};
  for (std::uint8_t c : {op::LONG4, op::BINSTRING, op::BINUNICODE, op::BINBYTES}) t[c] = {operand::sized, 4};
  for (std::uint8_t c : {op::BINUNICODE8, op::BINBYTES8, op::BYTEARRAY8}) t[c] = {operand::sized, 8};
  for (std::uint8_t c : {op::INT, op::LONG, op::FLOAT, op::STRING, op::UNICODE, op::PUT, op::PERSID}) t[c] = {operand::line, 0};
  for (std::uint8_t c : {op::GLOBAL, op::INST}) t[c] = {operand::two_lines, 0};
  return t;
}
constexpr std::array<operand_shape, 256> shapes = make_shapes();

}  // namespace

std::optional<memo_reads> memo_reads::of(std::span<const std::byte> pickle, std::uint64_t max_index,
                                         const std::atomic<bool>* stop) {
  memo_reads out;
  const std::byte* const p = pickle.data();
  const std::uint64_t size = pickle.size();
  const std::uint64_t bit_limit = size <= UINT64_MAX / 8 - 64 ? 8 * size + 64 : UINT64_MAX;
  out.bit_limit_ = bit_limit;
  const auto mark_read = [&](std::uint64_t index) {
    if (index >= max_index) return false;
    if (index >= bit_limit) {
      out.far_.push_back(index);
      return true;
    }
    if (index / 64 >= out.bits_.size()) out.bits_.resize(static_cast<std::size_t>(index / 64 + 1), 0);
    out.bits_[index / 64] |= std::uint64_t{1} << (index % 64);
    return true;
  };
  // One text line, through its '\n'.
  const auto line = [&](std::uint64_t& at) {
    const void* nl = std::memchr(p + at, '\n', static_cast<std::size_t>(size - at));
    if (!nl) return false;
    at = static_cast<std::uint64_t>(static_cast<const std::byte*>(nl) - p) + 1;
    return true;
  };
  std::uint64_t at = 0;
  constexpr std::uint64_t stop_every = std::uint64_t{1} << 16;
  std::uint64_t next_stop_check = stop ? stop_every : UINT64_MAX;
  while (at < size) {
    if (at >= next_stop_check) {
      if (stop->load(std::memory_order_relaxed)) return std::nullopt;
      next_stop_check = at + stop_every;
    }
    const operand_shape s = shapes[static_cast<std::uint8_t>(p[at++])];
    // Two of three opcodes in torch's pickles have no operand or a fixed one: one test, before
    // the switch's indirect jump (which mispredicts on the mix; NOTES 48).
    if (s.kind == operand::fixed) {
      if (s.n > size - at) return std::nullopt;
      at += s.n;
      continue;
    }
    switch (s.kind) {
      case operand::fixed:
        if (s.n > size - at) return std::nullopt;
        at += s.n;
        continue;
      case operand::get:
        if (s.n > size - at || !mark_read(le(p + at, s.n))) return std::nullopt;
        at += s.n;
        continue;
      case operand::sized: {
        if (s.n > size - at) return std::nullopt;
        const std::uint64_t n = le(p + at, s.n);
        at += s.n;
        if (n > size - at) return std::nullopt;
        at += n;
        continue;
      }
      case operand::line:
        if (!line(at)) return std::nullopt;
        continue;
      case operand::two_lines:
        if (!line(at) || !line(at)) return std::nullopt;
        continue;
      case operand::stop:
        std::sort(out.far_.begin(), out.far_.end());
        return out;
      case operand::text_get:  // text index: left to the machine, nothing reused
      case operand::unknown: return std::nullopt;
    }
  }
  return std::nullopt;  // no STOP
}

}  // namespace pthsafe::detail
