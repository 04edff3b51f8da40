// SHA-256 (FIPS 180-4), incremental. Used for the tensor digests of `inspect --json`.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

namespace pthsafe::detail {

class sha256 {
 public:
  sha256() noexcept;
  void update(const void* data, std::size_t n) noexcept;
  std::array<std::uint8_t, 32> finish() noexcept;
  /// Lowercase hex of finish().
  std::string hex() noexcept;

 private:
  void block(const std::uint8_t* p) noexcept;
  std::array<std::uint32_t, 8> h_;
  std::array<std::uint8_t, 64> buf_{};
  std::size_t used_ = 0;
  std::uint64_t total_ = 0;
};

}  // namespace pthsafe::detail
