// pthsafe_fresh_read: how fast can this machine put a (page-cached) file into NEW memory?
//
//   pthsafe_fresh_read [--mode M] [--threads N] [--repeat R] [--json] FILE
//
// Every repetition allocates a fresh buffer of the file's size (so the kernel must fault and
// zero each page again, as it must for any loader that returns new memory), reads the whole file
// into it and frees it. Modes:
//   pread     aligned_alloc + pread; N threads each read one contiguous slice (the default; the
//             "fresh-memory limit" is the best of N=1 and N=cores)
//   populate  mmap(MAP_POPULATE) (the kernel faults everything in one call), then pread
//   madvise   mmap, then N threads each MADV_POPULATE_WRITE their slice and pread it
//   huge      mmap + MADV_HUGEPAGE, then N-thread pread
//   warm      pread into a buffer that is already faulted in (the cached-copy ceiling; not new memory)
// Prints the best and median seconds and GiB/s (--json: one object).
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

namespace {

constexpr std::size_t page = 4096;

bool pread_all(int fd, std::byte* dst, std::size_t n, off_t off) {
  while (n > 0) {
    const std::size_t chunk = std::min<std::size_t>(n, std::size_t{1} << 30);
    const ssize_t got = ::pread(fd, dst, chunk, off);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return false;
    dst += got;
    off += got;
    n -= static_cast<std::size_t>(got);
  }
  return true;
}

// Runs fn(begin, end) over [0, n) split into `threads` page-aligned contiguous slices.
template <class F>
bool split(std::size_t n, unsigned threads, F fn) {
  if (threads <= 1) return fn(std::size_t{0}, n);
  const std::size_t per = (n / threads + page - 1) / page * page;
  std::atomic<bool> ok{true};
  std::vector<std::thread> pool;
  for (unsigned t = 1; t < threads; ++t) {
    const std::size_t b = std::min(n, per * t), e = std::min(n, per * (t + 1));
    pool.emplace_back([&, b, e] { if (!fn(b, e)) ok = false; });
  }
  if (!fn(0, std::min(n, per))) ok = false;
  for (auto& th : pool) th.join();
  return ok;
}

double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

}  // namespace

int main(int argc, char** argv) {
  std::string mode = "pread", file;
  unsigned threads = 1, repeat = 5;
  bool json = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--mode" && i + 1 < argc) mode = argv[++i];
    else if (a == "--threads" && i + 1 < argc) threads = static_cast<unsigned>(std::max(1, std::atoi(argv[++i])));
    else if (a == "--repeat" && i + 1 < argc) repeat = static_cast<unsigned>(std::max(1, std::atoi(argv[++i])));
    else if (a == "--json") json = true;
    else if (!a.empty() && a[0] != '-') file = a;
    else { std::fprintf(stderr, "usage: pthsafe_fresh_read [--mode pread|populate|madvise|huge|warm] [--threads N] [--repeat R] [--json] FILE\n"); return 2; }
  }
  if (file.empty()) { std::fprintf(stderr, "pthsafe_fresh_read: no FILE\n"); return 2; }
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  struct stat st{};
  if (fd < 0 || ::fstat(fd, &st) != 0) { std::perror(file.c_str()); return 2; }
  const std::size_t n = static_cast<std::size_t>(st.st_size);
  const std::size_t rounded = (n + page - 1) / page * page;

  std::byte* warm = nullptr;
  if (mode == "warm") {
    warm = static_cast<std::byte*>(std::aligned_alloc(page, rounded));
    if (!warm) return 2;
    std::memset(warm, 1, rounded);
  }
  std::vector<double> secs;
  for (unsigned r = 0; r < repeat; ++r) {
    const double t0 = now();
    std::byte* buf = nullptr;
    bool ok = true;
    if (mode == "pread" || mode == "warm") {
      buf = warm ? warm : static_cast<std::byte*>(std::aligned_alloc(page, rounded));
      if (!buf) return 2;
      ok = split(n, threads, [&](std::size_t b, std::size_t e) { return pread_all(fd, buf + b, e - b, static_cast<off_t>(b)); });
    } else {
      const int extra = mode == "populate" ? MAP_POPULATE : 0;
      void* p = ::mmap(nullptr, rounded, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | extra, -1, 0);
      if (p == MAP_FAILED) { std::perror("mmap"); return 2; }
      buf = static_cast<std::byte*>(p);
      if (mode == "huge") ::madvise(p, rounded, MADV_HUGEPAGE);
      ok = split(n, threads, [&](std::size_t b, std::size_t e) {
        if (mode == "madvise" && e > b) {
          const std::size_t eb = std::min(rounded, (e + page - 1) / page * page);
          if (::madvise(buf + b, eb - b, MADV_POPULATE_WRITE) != 0) return false;
        }
        return pread_all(fd, buf + b, e - b, static_cast<off_t>(b));
      });
    }
    const double t1 = now();
    volatile std::byte sink = buf[n / 2];
    (void)sink;
    if (mode == "pread") std::free(buf);
    else if (mode != "warm") ::munmap(buf, rounded);
    if (!ok) { std::fprintf(stderr, "pthsafe_fresh_read: read failed\n"); return 2; }
    secs.push_back(t1 - t0);
  }
  std::sort(secs.begin(), secs.end());
  const double best = secs.front(), median = secs[secs.size() / 2];
  const double gib = static_cast<double>(n) / (1024.0 * 1024.0 * 1024.0);
  if (json)
    std::printf("{\"mode\":\"%s\",\"threads\":%u,\"bytes\":%zu,\"best_seconds\":%.6f,\"median_seconds\":%.6f,\"repeat\":%u}\n",
                mode.c_str(), threads, n, best, median, repeat);
  else
    std::printf("%s x%u: %zu bytes, best %.4f s (%.2f GiB/s), median %.4f s (%.2f GiB/s)\n", mode.c_str(), threads, n, best,
                gib / best, median, gib / median);
  std::free(warm);
  ::close(fd);
  return 0;
}
