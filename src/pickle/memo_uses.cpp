#include "pickle/memo_uses.hpp"

#include <algorithm>
#include <cstring>

#include "pickle/opcodes.hpp"

namespace pthsafe::detail {
namespace {

std::uint64_t le(const std::byte* p, std::size_t n) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < n; ++i) v |= std::uint64_t{static_cast<unsigned char>(p[i])} << (8 * i);
  return v;
}

}  // namespace

std::optional<memo_reads> memo_reads::of(std::span<const std::byte> pickle, std::uint64_t max_index) {
  memo_reads out;
  const std::byte* const p = pickle.data();
  const std::uint64_t size = pickle.size();
  std::uint64_t at = 0;
  // Skips a fixed operand of n bytes; false past the end.
  const auto fixed = [&](std::uint64_t n) {
    if (n > size - at) return false;
    at += n;
    return true;
  };
  // A length prefix of w bytes, then that many bytes.
  const auto sized = [&](std::size_t w) {
    if (w > size - at) return false;
    const std::uint64_t n = le(p + at, w);
    at += w;
    return fixed(n);
  };
  // One text line, through its '\n'.
  const auto line = [&] {
    const void* nl = std::memchr(p + at, '\n', static_cast<std::size_t>(size - at));
    if (!nl) return false;
    at = static_cast<std::uint64_t>(static_cast<const std::byte*>(nl) - p) + 1;
    return true;
  };
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
  while (at < size) {
    const auto code = static_cast<std::uint8_t>(p[at++]);
    bool ok = true;
    switch (code) {
      case op::STOP:
        std::sort(out.far_.begin(), out.far_.end());
        return out;
      case op::BINGET:
        ok = 1 <= size - at && mark_read(le(p + at, 1)) && fixed(1);
        break;
      case op::LONG_BINGET:
        ok = 4 <= size - at && mark_read(le(p + at, 4)) && fixed(4);
        break;
      case op::GET: return std::nullopt;  // text index: left to the machine, nothing reused
      case op::PROTO: case op::BININT1: case op::BINPUT: case op::EXT1: ok = fixed(1); break;
      case op::BININT2: case op::EXT2: ok = fixed(2); break;
      case op::BININT: case op::LONG_BINPUT: case op::EXT4: ok = fixed(4); break;
      case op::BINFLOAT: case op::FRAME: ok = fixed(8); break;
      case op::LONG1: case op::SHORT_BINSTRING: case op::SHORT_BINUNICODE: case op::SHORT_BINBYTES: ok = sized(1); break;
      case op::LONG4: case op::BINSTRING: case op::BINUNICODE: case op::BINBYTES: ok = sized(4); break;
      case op::BINUNICODE8: case op::BINBYTES8: case op::BYTEARRAY8: ok = sized(8); break;
      case op::INT: case op::LONG: case op::FLOAT: case op::STRING: case op::UNICODE: case op::PUT: case op::PERSID:
        ok = line();
        break;
      case op::GLOBAL: case op::INST: ok = line() && line(); break;
      default:
        // Opcodes without operands; anything else is no opcode the machine runs.
        if (opcode_table[code].cls == op_class::unknown) return std::nullopt;
        break;
    }
    if (!ok) return std::nullopt;
  }
  return std::nullopt;  // no STOP
}

}  // namespace pthsafe::detail
