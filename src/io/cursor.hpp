// A bounds-tracking reader over untrusted bytes. Every read checks the bytes remaining first.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>

namespace pthsafe::detail {

class cursor {
 public:
  explicit cursor(std::span<const std::byte> b, std::uint64_t pos = 0) noexcept
      : data_(reinterpret_cast<const unsigned char*>(b.data())), size_(b.size()), pos_(pos) {}
  std::uint64_t pos() const noexcept { return pos_; }
  std::uint64_t size() const noexcept { return size_; }
  std::uint64_t remaining() const noexcept { return pos_ <= size_ ? size_ - pos_ : 0; }
  bool seek(std::uint64_t p) noexcept {
    if (p > size_) return false;
    pos_ = p;
    return true;
  }
  bool skip(std::uint64_t n) noexcept {
    if (n > remaining()) return false;
    pos_ += n;
    return true;
  }
  // Integer reads store 0 when the bytes are missing, so a value is never left indeterminate
  // (callers that bound the whole header first read several fields before testing one result).
  [[gnu::always_inline]] bool u8(std::uint8_t& v) noexcept { return le(v); }
  [[gnu::always_inline]] bool u16(std::uint16_t& v) noexcept { return le(v); }
  [[gnu::always_inline]] bool u32(std::uint32_t& v) noexcept { return le(v); }
  [[gnu::always_inline]] bool u64(std::uint64_t& v) noexcept { return le(v); }
  /// n bytes as a view into the buffer (no copy).
  bool bytes(std::uint64_t n, std::string_view& out) noexcept {
    if (n > remaining()) return false;
    out = std::string_view(reinterpret_cast<const char*>(data_ + pos_), static_cast<std::size_t>(n));
    pos_ += n;
    return true;
  }
  /// Bytes up to and including the next '\n' (the '\n' excluded from `out`), at most `limit` bytes.
  bool line(std::string_view& out, std::uint64_t limit) noexcept {
    const std::uint64_t avail = remaining() < limit ? remaining() : limit;
    const void* nl = std::memchr(data_ + pos_, '\n', static_cast<std::size_t>(avail));
    if (!nl) return false;
    const auto n = static_cast<std::uint64_t>(static_cast<const unsigned char*>(nl) - (data_ + pos_));
    out = std::string_view(reinterpret_cast<const char*>(data_ + pos_), static_cast<std::size_t>(n));
    pos_ += n + 1;
    return true;
  }
  const unsigned char* here() const noexcept { return data_ + pos_; }

 private:
  // Always inline: a header walk reads a dozen fields an entry, and as calls they were a tenth
  // of a 100,000-record walk (bench/NOTES.md 58).
  template <class T>
  [[gnu::always_inline]] bool le(T& v) noexcept {
    std::array<unsigned char, sizeof(T)> b{};
    v = 0;
    if (!fixed(b.data(), b.size())) return false;
    T r = 0;
    for (std::size_t i = 0; i < sizeof(T); ++i) r = static_cast<T>(r | static_cast<T>(T(b[i]) << (8 * i)));
    v = r;
    return true;
  }
  [[gnu::always_inline]] bool fixed(void* dst, std::size_t n) noexcept {
    if (n > remaining()) return false;
    std::memcpy(dst, data_ + pos_, n);
    pos_ += n;
    return true;
  }
  const unsigned char* data_;
  std::uint64_t size_;
  std::uint64_t pos_;
};

}  // namespace pthsafe::detail
