#include "device/scheduler.hpp"

#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <functional>
#include <mutex>
#include <system_error>
#include <thread>

namespace pthsafe::detail {

device_block& device_block::operator=(device_block&& o) noexcept {
  if (this != &o) {
    reset();
    e_ = o.e_;
    device_ = o.device_;
    p_ = o.p_;
    n_ = o.n_;
    o.p_ = nullptr;
  }
  return *this;
}

void device_block::reset() noexcept {
  if (p_ && e_) e_->free_device(device_, p_);
  p_ = nullptr;
  n_ = 0;
}

pinned_pool::~pinned_pool() {
  for (auto* b : bufs_) e_->free_pinned(b);
}

result<void> pinned_pool::allocate(copy_engine& e, unsigned count, std::size_t bytes) {
  e_ = &e;
  bytes_ = bytes;
  bufs_.reserve(count);
  for (unsigned i = 0; i < count; ++i) {
    auto b = e.alloc_pinned(bytes);
    if (!b) return std::move(b).error_value();  // the destructor frees the earlier ones
    bufs_.push_back(*b);
  }
  return {};
}

void fill_range(std::byte* out, std::uint64_t begin, std::uint64_t end, std::span<const stage_segment> segments) noexcept {
  // First segment ending after begin.
  auto it = std::partition_point(segments.begin(), segments.end(),
                                 [begin](const stage_segment& s) { return s.at + s.nbytes <= begin; });
  std::uint64_t pos = begin;
  for (; it != segments.end() && pos < end; ++it) {
    const std::uint64_t s_begin = std::max(it->at, pos);
    const std::uint64_t s_end = std::min(it->at + it->nbytes, end);
    if (s_begin >= end) break;
    if (s_begin > pos) std::memset(out + (pos - begin), 0, s_begin - pos);
    if (s_end > s_begin) std::memcpy(out + (s_begin - begin), it->src + (s_begin - it->at), s_end - s_begin);
    pos = std::max(pos, s_end);
  }
  if (pos < end) std::memset(out + (pos - begin), 0, end - pos);
}

namespace {

// Threads that fill one staging buffer together: run(job) calls job(t) for t in [0, n) on the
// pool's threads and this one, and returns when all have finished.
class fill_pool {
 public:
  explicit fill_pool(unsigned n) {
    for (unsigned t = 1; t < n; ++t) {
      try {
        threads_.emplace_back([this, t] { loop(t); });
      } catch (const std::system_error&) {
        break;  // fewer threads: the rest share the work
      }
    }
  }
  fill_pool(const fill_pool&) = delete;
  fill_pool& operator=(const fill_pool&) = delete;
  ~fill_pool() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    wake_.notify_all();
    for (auto& th : threads_) th.join();
  }
  unsigned size() const noexcept { return static_cast<unsigned>(threads_.size()) + 1; }
  void run(const std::function<void(unsigned)>& job) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      job_ = &job;
      pending_ = static_cast<unsigned>(threads_.size());
      ++generation_;
    }
    wake_.notify_all();
    job(0);
    std::unique_lock<std::mutex> lock(mu_);
    done_.wait(lock, [this] { return pending_ == 0; });
    job_ = nullptr;
  }

 private:
  void loop(unsigned t) {
    std::uint64_t seen = 0;
    for (;;) {
      const std::function<void(unsigned)>* job = nullptr;
      {
        std::unique_lock<std::mutex> lock(mu_);
        wake_.wait(lock, [&] { return stop_ || generation_ != seen; });
        if (stop_) return;
        seen = generation_;
        job = job_;
      }
      (*job)(t);
      {
        std::lock_guard<std::mutex> lock(mu_);
        --pending_;
      }
      done_.notify_one();
    }
  }
  std::vector<std::thread> threads_;
  std::mutex mu_;
  std::condition_variable wake_, done_;
  const std::function<void(unsigned)>* job_ = nullptr;
  unsigned pending_ = 0;
  std::uint64_t generation_ = 0;
  bool stop_ = false;
};

// Below this a buffer is filled by one thread: waking the others costs more than it saves.
constexpr std::uint64_t parallel_fill_min = std::uint64_t{1} << 20;

}  // namespace

result<void> stream_to_device(copy_engine& e, int device, std::byte* dst, std::uint64_t total,
                              std::span<const stage_segment> segments, const pinned_pool& pool,
                              const stage_options& o) {
  const auto bufs = pool.buffers();
  const std::uint64_t window = pool.buffer_bytes();
  if (total == 0) return {};
  if (bufs.empty() || window == 0 || o.streams == 0) return make_error(errc::cuda_error, "no staging buffers");
  if (auto r = e.open_lanes(device, o.streams, static_cast<unsigned>(bufs.size())); !r) {
    e.close_lanes();
    return r;
  }
  fill_pool threads(std::max(1u, o.fill_threads));
  std::vector<bool> in_flight(bufs.size(), false);
  auto fail = [&](error err) -> result<void> {
    (void)e.synchronize();  // nothing may still read a staging buffer when the caller frees it
    e.close_lanes();
    return err;
  };
  std::uint64_t k = 0;
  for (std::uint64_t begin = 0; begin < total; begin += window, ++k) {
    const std::uint64_t len = std::min(window, total - begin);
    const auto b = static_cast<unsigned>(k % bufs.size());
    const auto s = static_cast<unsigned>(k % o.streams);
    if (in_flight[b]) {
      if (auto r = e.wait(b); !r) return fail(std::move(r).error_value());
      in_flight[b] = false;
    }
    std::byte* out = bufs[b];
    if (len < parallel_fill_min || threads.size() == 1) {
      fill_range(out, begin, begin + len, segments);
    } else {
      const unsigned n = threads.size();
      const std::uint64_t piece = (len + n - 1) / n;
      threads.run([&](unsigned t) {
        const std::uint64_t a = std::min(len, piece * t), z = std::min(len, a + piece);
        if (a < z) fill_range(out + a, begin + a, begin + z, segments);
      });
    }
    if (auto r = e.copy_async(dst + begin, out, static_cast<std::size_t>(len), s); !r) return fail(std::move(r).error_value());
    if (auto r = e.record(b, s); !r) return fail(std::move(r).error_value());
    in_flight[b] = true;
  }
  if (auto r = e.synchronize(); !r) return fail(std::move(r).error_value());
  e.close_lanes();
  return {};
}

}  // namespace pthsafe::detail
