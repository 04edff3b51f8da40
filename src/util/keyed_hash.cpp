#include "util/keyed_hash.hpp"

#include <array>
#include <bit>
#include <cstring>
#include <random>

#if defined(__linux__)
#include <sys/random.h>
#include <sys/types.h>

#include <cerrno>
#endif

namespace pthsafe::detail {
namespace {

struct process_key {
  std::uint64_t k0, k1;
};

// Drawn once, on first use, from the system's entropy source: getrandom where there is one
// (~1 us), else std::random_device, whose setup alone took 20-25 us here, inside the first
// load's time to ready (it is where a 2 GiB checkpoint's first name is hashed; NOTES 40).
const process_key& key() noexcept {
  static const process_key k = [] {
#if defined(__linux__)
    std::array<std::uint64_t, 2> w{};
    auto* out = reinterpret_cast<unsigned char*>(w.data());
    std::size_t got = 0;
    while (got < sizeof w) {
      const ssize_t n = ::getrandom(out + got, sizeof w - got, 0);
      if (n > 0) got += static_cast<std::size_t>(n);
      else if (n < 0 && errno != EINTR) break;
    }
    if (got == sizeof w) return process_key{w[0], w[1]};
#endif
    std::random_device rd;
    auto word = [&] { return (std::uint64_t{rd()} << 32) ^ std::uint64_t{rd()}; };
    const std::uint64_t a = word();
    return process_key{a, word()};
  }();
  return k;
}

inline void round(std::uint64_t& v0, std::uint64_t& v1, std::uint64_t& v2, std::uint64_t& v3) noexcept {
  v0 += v1; v1 = std::rotl(v1, 13); v1 ^= v0; v0 = std::rotl(v0, 32);
  v2 += v3; v3 = std::rotl(v3, 16); v3 ^= v2;
  v0 += v3; v3 = std::rotl(v3, 21); v3 ^= v0;
  v2 += v1; v1 = std::rotl(v1, 17); v1 ^= v2; v2 = std::rotl(v2, 32);
}

}  // namespace

siphash13::siphash13(std::uint64_t tag) noexcept {
  const process_key& k = key();
  const std::uint64_t k1 = k.k1 ^ tag;  // a per-domain key: equal bytes under two tags differ
  v0_ = k.k0 ^ 0x736f6d6570736575ULL;
  v1_ = k1 ^ 0x646f72616e646f6dULL;
  v2_ = k.k0 ^ 0x6c7967656e657261ULL;
  v3_ = k1 ^ 0x7465646279746573ULL;
}

void siphash13::block(std::uint64_t m) noexcept {
  v3_ ^= m;
  round(v0_, v1_, v2_, v3_);  // one compression round (the "1" of 1-3)
  v0_ ^= m;
}

void siphash13::add(std::string_view bytes) noexcept {
  const auto put = [this](unsigned char c) {
    buf_ |= std::uint64_t{c} << (8 * buffered_);
    if (++buffered_ == 8) {
      block(buf_);
      buf_ = 0;
      buffered_ = 0;
    }
  };
  std::size_t i = 0;
  while (i < bytes.size() && buffered_ != 0) put(static_cast<unsigned char>(bytes[i++]));
  // Whole words at once (little-endian hosts only, checked in CMake): the same blocks as byte
  // by byte, a fifth of the instructions for a 100,000-key state_dict's keys (NOTES 35).
  for (; bytes.size() - i >= 8; i += 8) {
    std::uint64_t m = 0;
    std::memcpy(&m, bytes.data() + i, 8);
    block(m);
  }
  while (i < bytes.size()) put(static_cast<unsigned char>(bytes[i++]));
  total_ += bytes.size();
}

void siphash13::add_u64(std::uint64_t x) noexcept {
  std::array<char, 8> b;
  for (int i = 0; i < 8; ++i) b[static_cast<std::size_t>(i)] = static_cast<char>(x >> (8 * i));
  add(std::string_view(b.data(), b.size()));
}

std::uint64_t siphash13::finish() const noexcept {
  std::uint64_t v0 = v0_, v1 = v1_, v2 = v2_, v3 = v3_;
  const std::uint64_t m = buf_ | (total_ << 56);  // last block: remaining bytes, length byte
  v3 ^= m;
  round(v0, v1, v2, v3);
  v0 ^= m;
  v2 ^= 0xff;
  for (int i = 0; i < 3; ++i) round(v0, v1, v2, v3);  // three finalisation rounds
  return v0 ^ v1 ^ v2 ^ v3;
}

std::uint64_t keyed_hash(std::string_view bytes, std::uint64_t tag) noexcept {
  // siphash13's blocks in one pass, with no buffer between calls: a dict key or a name is
  // hashed whole, and the streaming form's byte-by-byte tail was a third of its cost
  // (bench/NOTES.md 49). The same hash: tests/util/test_util.cpp compares the two at every length.
  const process_key& k = key();
  const std::uint64_t k1 = k.k1 ^ tag;
  std::uint64_t v0 = k.k0 ^ 0x736f6d6570736575ULL, v1 = k1 ^ 0x646f72616e646f6dULL;
  std::uint64_t v2 = k.k0 ^ 0x6c7967656e657261ULL, v3 = k1 ^ 0x7465646279746573ULL;
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  const std::size_t n = bytes.size();
  std::size_t i = 0;
  for (; n - i >= 8; i += 8) {
    std::uint64_t m = 0;
    std::memcpy(&m, p + i, 8);
    v3 ^= m;
    round(v0, v1, v2, v3);
    v0 ^= m;
  }
  std::uint64_t m = static_cast<std::uint64_t>(n) << 56;  // the remaining bytes, the length byte
  for (std::size_t j = 0; i + j < n; ++j) m |= std::uint64_t{p[i + j]} << (8 * j);
  v3 ^= m;
  round(v0, v1, v2, v3);
  v0 ^= m;
  v2 ^= 0xff;
  for (int r = 0; r < 3; ++r) round(v0, v1, v2, v3);
  return v0 ^ v1 ^ v2 ^ v3;
}

std::uint64_t keyed_hash_u64(std::uint64_t x, std::uint64_t tag) noexcept {
  siphash13 h(tag);
  h.add_u64(x);
  return h.finish();
}

}  // namespace pthsafe::detail
