// memo_reads::of walks a pickle's opcodes with a table of operand shapes (pickle/memo_uses.cpp).
// This compares it with the walk written out opcode by opcode (the switch it replaced), on
// random opcode streams (every byte value, operands short, long, cut off, lines without '\n')
// and on the pickles of the torch-written fixtures: the same verdict (exact or not) and, when
// exact, the same set of indices read.
#include <doctest/doctest.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "pickle/memo_uses.hpp"
#include "pickle/opcodes.hpp"
#include "zip/archive.hpp"

namespace op = pthsafe::detail::op;
using pthsafe::detail::memo_reads;

namespace {

// The reference: every opcode spelled out. nullopt when the walk cannot be exact.
std::optional<std::set<std::uint64_t>> reference_reads(const std::vector<unsigned char>& p, std::uint64_t max_index) {
  std::set<std::uint64_t> read;
  std::uint64_t at = 0;
  const std::uint64_t size = p.size();
  auto le = [&](std::uint64_t from, std::uint64_t n) {
    std::uint64_t v = 0;
    for (std::uint64_t i = 0; i < n; ++i) v |= std::uint64_t{p[from + i]} << (8 * i);
    return v;
  };
  auto fixed = [&](std::uint64_t n) {
    if (n > size - at) return false;
    at += n;
    return true;
  };
  auto sized = [&](std::uint64_t w) {
    if (w > size - at) return false;
    const std::uint64_t n = le(at, w);
    at += w;
    return fixed(n);
  };
  auto line = [&] {
    for (std::uint64_t i = at; i < size; ++i)
      if (p[i] == '\n') {
        at = i + 1;
        return true;
      }
    return false;
  };
  auto get = [&](std::uint64_t w) {
    if (w > size - at) return false;
    const std::uint64_t index = le(at, w);
    if (index >= max_index) return false;
    read.insert(index);
    at += w;
    return true;
  };
  while (at < size) {
    const unsigned char code = p[at++];
    bool ok = true;
    switch (code) {
      case op::STOP: return read;
      case op::BINGET: ok = get(1); break;
      case op::LONG_BINGET: ok = get(4); break;
      case op::GET: return std::nullopt;
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
        if (pthsafe::detail::opcode_table[code].cls == pthsafe::detail::op_class::unknown) return std::nullopt;
        break;
    }
    if (!ok) return std::nullopt;
  }
  return std::nullopt;
}

void same_as_reference(const std::vector<unsigned char>& p, std::uint64_t max_index) {
  const auto want = reference_reads(p, max_index);
  const auto got = memo_reads::of(std::as_bytes(std::span(p)), max_index);
  REQUIRE(got.has_value() == want.has_value());
  if (!want) return;
  for (const std::uint64_t i : *want) CHECK(got->read(i));
  // Everything else reads as unread: every index up to a little past the largest, and the
  // neighbours of each read one.
  const std::uint64_t top = want->empty() ? 64 : *want->rbegin() + 64;
  for (std::uint64_t i = 0; i < std::min<std::uint64_t>(top, 1 << 16); ++i) CHECK(got->read(i) == (want->count(i) != 0));
  for (const std::uint64_t i : *want)
    for (const std::uint64_t j : {i - 1, i + 1})
      if (want->count(j) == 0) CHECK_FALSE(got->read(j));
}

std::vector<unsigned char> random_stream(std::mt19937_64& rng) {
  // Operand-carrying opcodes most of the time, any byte at all sometimes.
  static const unsigned char common[] = {op::BINGET, op::LONG_BINGET, op::BINPUT, op::LONG_BINPUT, op::BININT1, op::BININT2,
                                         op::BININT, op::BINUNICODE, op::SHORT_BINUNICODE, op::BINUNICODE8, op::LONG1,
                                         op::GLOBAL, op::INT, op::MARK, op::TUPLE, op::REDUCE, op::BINPERSID, op::FRAME,
                                         op::PROTO, op::GET, op::STOP, op::BINFLOAT, op::BYTEARRAY8, op::PERSID};
  std::vector<unsigned char> p;
  const std::size_t ops = rng() % 40;
  for (std::size_t k = 0; k < ops; ++k) {
    const unsigned char code = rng() % 8 == 0 ? static_cast<unsigned char>(rng()) : common[rng() % std::size(common)];
    p.push_back(code);
    // Operand bytes: small numbers (so lengths and indices land near the end of the stream),
    // sometimes '\n', sometimes nothing.
    const std::size_t n = rng() % 10;
    for (std::size_t i = 0; i < n; ++i) {
      const auto r = rng() % 16;
      p.push_back(r < 10 ? static_cast<unsigned char>(r) : r < 12 ? static_cast<unsigned char>('\n') : static_cast<unsigned char>(rng()));
    }
  }
  if (rng() % 4 != 0) p.push_back(op::STOP);
  return p;
}

}  // namespace

TEST_CASE("memo_reads::of decides as the opcode-by-opcode walk does, on random opcode streams") {
  std::mt19937_64 rng(41);
  for (int round = 0; round < 20000; ++round) {
    const auto p = random_stream(rng);
    CAPTURE(round);
    same_as_reference(p, round % 3 == 0 ? 5 : 1000);
  }
}

TEST_CASE("memo_reads::of decides as the opcode-by-opcode walk does, on the torch fixtures' pickles") {
  int pickles = 0;
  for (const auto& f : std::filesystem::directory_iterator(PTHSAFE_FIXTURES)) {
    if (f.path().extension() != ".pt" && f.path().extension() != ".pth") continue;
    std::ifstream in(f.path(), std::ios::binary);
    const std::vector<char> raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const auto file = std::as_bytes(std::span(raw));
    auto a = pthsafe::detail::archive::open(file, pthsafe::limits{});
    if (!a) continue;
    for (std::size_t i = 0; i < (*a)->entries().size(); ++i) {
      const std::string_view name = (*a)->name(i);
      if (name.size() < 4 || name.substr(name.size() - 4) != ".pkl") continue;
      const auto stored = (*a)->stored_bytes(i);
      if (!stored) continue;
      const auto* b = reinterpret_cast<const unsigned char*>(stored->data());
      std::vector<unsigned char> p(b, b + stored->size());
      CAPTURE(f.path().string());
      same_as_reference(p, 1u << 20);
      // Cut short at every length up to 64 bytes from the end: never exact without STOP.
      for (std::size_t cut = 1; cut <= 64 && cut < p.size(); ++cut)
        same_as_reference(std::vector<unsigned char>(p.begin(), p.end() - static_cast<std::ptrdiff_t>(cut)), 1u << 20);
      ++pickles;
    }
  }
  CHECK(pickles >= 50);
}
