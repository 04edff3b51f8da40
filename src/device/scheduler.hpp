// The chunk scheduler: streams host bytes (the mapped file, or host copies of deflated and
// byte-swapped records) into one device block per device through a pool of pinned staging
// buffers. Buffer k % buffers is refilled only after its previous copy completed (its event),
// so with 2 or 3 buffers the next fill overlaps the copies in flight; copies are spread over
// the streams. Each buffer is filled by several threads (page faults and memcpy run on every
// core). Device layout: every segment at its `at` offset; gaps are copied as zeros.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "device/copy_engine.hpp"
#include "pthsafe/error.hpp"

namespace pthsafe::detail {

/// Bytes [at, at + nbytes) of a device block come from src.
struct stage_segment {
  const std::byte* src = nullptr;
  std::uint64_t nbytes = 0;
  std::uint64_t at = 0;
  std::string_view record;  // named in errors
};

struct stage_options {
  std::size_t buffer_bytes = std::size_t{64} << 20;
  unsigned buffers = 3;
  unsigned streams = 2;
  unsigned fill_threads = 1;
};

/// Device memory from an engine, freed with this object. The engine must outlive it.
class device_block {
 public:
  device_block() = default;
  device_block(copy_engine* e, int device, void* p, std::uint64_t n) noexcept : e_(e), device_(device), p_(p), n_(n) {}
  device_block(device_block&& o) noexcept : e_(o.e_), device_(o.device_), p_(o.p_), n_(o.n_) { o.p_ = nullptr; }
  device_block& operator=(device_block&& o) noexcept;
  device_block(const device_block&) = delete;
  device_block& operator=(const device_block&) = delete;
  ~device_block() { reset(); }
  void reset() noexcept;
  std::byte* data() const noexcept { return static_cast<std::byte*>(p_); }
  std::uint64_t size() const noexcept { return n_; }
  int device() const noexcept { return device_; }

 private:
  copy_engine* e_ = nullptr;
  int device_ = 0;
  void* p_ = nullptr;
  std::uint64_t n_ = 0;
};

/// Pinned staging buffers from an engine, freed with this object (the engine must outlive it,
/// and no copy from them may be in flight when it dies: stream_to_device synchronizes).
class pinned_pool {
 public:
  pinned_pool() = default;
  pinned_pool(const pinned_pool&) = delete;
  pinned_pool& operator=(const pinned_pool&) = delete;
  ~pinned_pool();
  /// `count` buffers of `bytes` each. Errors: cuda_error (those allocated so far are freed).
  result<void> allocate(copy_engine& e, unsigned count, std::size_t bytes);
  std::span<std::byte* const> buffers() const noexcept { return bufs_; }
  std::size_t buffer_bytes() const noexcept { return bytes_; }

 private:
  copy_engine* e_ = nullptr;
  std::vector<std::byte*> bufs_;
  std::size_t bytes_ = 0;
};

/// Segments must be sorted by `at`, not overlap, and end at or before `total`.
/// Copies [0, total) to dst on `device`, ending with one synchronize. On failure every copy in
/// flight is waited for before returning (the caller may free the buffers at once).
/// Errors: whatever the engine returns (cuda_error with the call and the CUDA error's name).
result<void> stream_to_device(copy_engine& e, int device, std::byte* dst, std::uint64_t total,
                              std::span<const stage_segment> segments, const pinned_pool& pool,
                              const stage_options& o);

/// Writes bytes [begin, end) of the device layout into out: segment bytes, zeros in gaps.
void fill_range(std::byte* out, std::uint64_t begin, std::uint64_t end, std::span<const stage_segment> segments) noexcept;

}  // namespace pthsafe::detail
