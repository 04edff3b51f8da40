#include "place/bulk_read.hpp"

#include <sys/mman.h>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23  // Linux 5.14
#endif

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <optional>
#include <system_error>
#include <thread>
#include <vector>

#include "io/release_behind.hpp"
#include "util/cpus.hpp"

namespace pthsafe::detail {
namespace {

constexpr std::size_t page = 4096;
constexpr std::uint64_t chunk_bytes = std::uint64_t{16} << 20;
constexpr unsigned max_threads = 8;
constexpr std::uint64_t prefault_min = std::uint64_t{1} << 20;
constexpr std::uint64_t small_record_max = std::uint64_t{64} << 10;

// Faults [p, p + n) in (whole pages inside the range only) with one MADV_POPULATE_WRITE call
// before pread fills it: 20% faster than letting pread's copy fault page by page on this
// machine (bench/NOTES.md). Advice only: kernels before 5.14 refuse it and pread faults as usual.
void prefault(std::byte* p, std::uint64_t n) {
  const auto at = reinterpret_cast<std::uintptr_t>(p);
  const auto b = (at + page - 1) / page * page;
  const auto e = (at + n) / page * page;
  if (e > b) ::madvise(p + (b - at), e - b, MADV_POPULATE_WRITE);
}

result<void> read_one(const source& src, const read_job& j, std::uint64_t begin, std::uint64_t len) {
  // Small records are copied from the mapping (which already holds the zip directory and the
  // pickle): one pread per 64-byte tensor cost ~0.9 us, 100,000 of them 90 ms (bench/NOTES.md).
  if (len == 0) return {};  // empty storages have no buffer (dst is null)
  const auto mapped = src.bytes();
  if (j.nbytes <= small_record_max && j.file_offset <= mapped.size() && len <= mapped.size() - j.file_offset &&
      begin <= mapped.size() - j.file_offset - len) {
    std::memcpy(j.dst + begin, mapped.data() + j.file_offset + begin, len);
    return {};
  }
  if (len >= prefault_min) prefault(j.dst + begin, len);
  if (auto r = src.read_into(j.file_offset + begin, j.dst + begin, len); !r) {
    error e = std::move(r).error_value();
    if (!j.record.empty()) e.record = std::string(j.record);
    return e;
  }
  return {};
}

}  // namespace

std::byte* alloc_storage_bytes(std::size_t n) {
  if (n < large_buffer_min) {
    const std::size_t rounded = (n + 63) / 64 * 64;
    return static_cast<std::byte*>(std::aligned_alloc(64, rounded ? rounded : 64));
  }
  // Plain 4 KiB pages: MADV_HUGEPAGE was 8x faster when the previous process had just freed huge
  // pages and 3-4x slower when memory was cold (bench/NOTES.md), and a restarting service meets
  // cold memory. A private mapping (not malloc) so that freeing returns it at once.
  void* p = ::mmap(nullptr, (n + page - 1) / page * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return p == MAP_FAILED ? nullptr : static_cast<std::byte*>(p);
}

void free_storage_bytes(std::byte* p, std::size_t n) noexcept {
  if (!p) return;
  if (n < large_buffer_min) {
    std::free(p);
    return;
  }
  ::munmap(p, (n + page - 1) / page * page);
}

result<void> read_all(const source& src, std::span<const read_job> jobs) {
  if (jobs.empty()) return {};  // mmap mode, all mapped: not even the CPU count is asked
  std::uint64_t total = 0;
  for (const auto& j : jobs) total += j.nbytes;
  unsigned threads = std::min(usable_cpus(), max_threads);
  if (total < parallel_read_min || threads < 2) {
    // In file order (torch files its records by key as text: "0", "1", "10", "100", ..., so
    // storage order jumps about the file), handing back the mapped pages of the small records
    // copied so far: 100,000 small storages would otherwise fault in the whole record area
    // (bench/NOTES.md 26). Every 1 MiB, not the header walks' 8: the copy runs at the load's
    // peak, when the whole tree is built, so the stretch kept resident adds to it (NOTES 30, 37).
    std::vector<const read_job*> order;
    order.reserve(jobs.size());
    for (const auto& j : jobs) order.push_back(&j);
    const auto by_offset = [](const read_job* a, const read_job* b) { return a->file_offset < b->file_offset; };
    // What place_storages hands over is in directory order, file order for what torch writes:
    // then there is nothing to sort (a stable sort allocates a buffer and copies either way).
    if (!std::is_sorted(order.begin(), order.end(), by_offset)) std::stable_sort(order.begin(), order.end(), by_offset);
    const page_release release = [&src](std::span<const std::byte> b) { src.release_pages(b); };
    release_behind behind(src.bytes(), release, std::uint64_t{1} << 20);
    for (const read_job* j : order) {
      behind.passed(j->file_offset);
      if (auto r = read_one(src, *j, 0, j->nbytes); !r) return r;
    }
    return {};
  }

  struct chunk {
    const read_job* job;
    std::uint64_t begin, len;
  };
  std::vector<chunk> chunks;
  chunks.reserve(static_cast<std::size_t>(total / chunk_bytes + jobs.size()));
  for (const auto& j : jobs)
    for (std::uint64_t b = 0; b < j.nbytes; b += chunk_bytes) chunks.push_back({&j, b, std::min(chunk_bytes, j.nbytes - b)});
  threads = static_cast<unsigned>(std::min<std::size_t>(threads, chunks.size()));

  std::atomic<std::size_t> next{0};
  std::atomic<bool> failed{false};
  std::mutex mu;
  std::optional<error> first_error;
  std::size_t first_index = 0;
  auto worker = [&] {
    while (!failed.load(std::memory_order_relaxed)) {
      const std::size_t i = next.fetch_add(1, std::memory_order_relaxed);
      if (i >= chunks.size()) return;
      const chunk& c = chunks[i];
      if (auto r = read_one(src, *c.job, c.begin, c.len); !r) {
        std::lock_guard<std::mutex> lock(mu);
        if (!first_error || i < first_index) {
          first_error = std::move(r).error_value();
          first_index = i;
        }
        failed = true;
      }
    }
  };
  std::vector<std::thread> pool;
  pool.reserve(threads - 1);
  for (unsigned t = 1; t < threads; ++t) {
    try {
      pool.emplace_back(worker);
    } catch (const std::system_error&) {
      break;  // no more threads available: the ones we have (and this one) do all the work
    }
  }
  worker();
  for (auto& th : pool) th.join();
  if (first_error) return std::move(*first_error);
  return {};
}

}  // namespace pthsafe::detail
