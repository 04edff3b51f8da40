// pthsafe_bench: Google Benchmark suite over inputs written by real torch (bench/make_inputs.py).
//
//   python3 bench/make_inputs.py                 # once; cached in $PTHSAFE_BENCH_CACHE or ~/.cache/pthsafe-bench
//   build/bench/pthsafe_bench [--inputs DIR] [--benchmark_filter=...]
//
// big.pth: ~2 GiB float32 in 100 tensors; many.pth: 100,000 16-element tensors.
// Each benchmark reports bytes/s (SetBytesProcessed) or tensors/s (SetItemsProcessed). Copy loads
// allocate fresh memory every iteration, as a real load does. Timings are not tests.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "pthsafe/pthsafe.hpp"
#include "pthsafe/scan.hpp"
#include "zip/archive.hpp"

namespace {

std::string g_dir;

std::string input(const char* name) { return g_dir + "/" + name; }

bool exists(const std::string& p) {
  struct stat st{};
  return ::stat(p.c_str(), &st) == 0;
}

std::uint64_t file_size(const std::string& p) {
  struct stat st{};
  return ::stat(p.c_str(), &st) == 0 ? static_cast<std::uint64_t>(st.st_size) : 0;
}

// Sums every byte as 64-bit words (as `pthsafe load --touch` does).
std::uint64_t touch(std::span<const std::byte> b) {
  std::uint64_t acc = 0;
  std::size_t i = 0;
  for (; i + 8 <= b.size(); i += 8) {
    std::uint64_t w;
    std::memcpy(&w, b.data() + i, 8);
    acc += w;
  }
  for (; i < b.size(); ++i) acc += static_cast<std::uint8_t>(b[i]);
  return acc;
}

bool need(benchmark::State& state, const std::string& path) {
  if (exists(path)) return true;
  state.SkipWithError((path + " missing: run bench/make_inputs.py (or pass --inputs DIR)").c_str());
  return false;
}

void load_bench(benchmark::State& state, const char* name, pthsafe::load_mode mode, bool do_touch) {
  const std::string path = input(name);
  if (!need(state, path)) return;
  pthsafe::load_options opts;
  opts.mode = mode;
  std::uint64_t bytes = 0, tensors = 0;
  for (auto _ : state) {
    auto ck = pthsafe::checkpoint::open(path, opts);
    if (!ck) {
      state.SkipWithError(ck.error_value().to_string().c_str());
      return;
    }
    if (do_touch) {
      std::uint64_t sum = 0;
      for (std::size_t i = 0; i < ck->storage_count(); ++i) sum += touch(ck->storage(i).bytes());
      benchmark::DoNotOptimize(sum);
    }
    bytes = ck->storage_bytes();
    tensors = ck->tensor_count();
    state.PauseTiming();  // freeing 2 GiB (munmap) is not part of a load
    { auto gone = std::move(*ck); }
    state.ResumeTiming();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(bytes * state.iterations()));
  state.SetItemsProcessed(static_cast<std::int64_t>(tensors * state.iterations()));
  state.counters["tensors"] = static_cast<double>(tensors);
}

void BM_CopyLoad(benchmark::State& s) { load_bench(s, "big.pth", pthsafe::load_mode::copy, false); }
void BM_MmapOpen(benchmark::State& s) { load_bench(s, "big.pth", pthsafe::load_mode::mmap, false); }
void BM_MmapTouch(benchmark::State& s) { load_bench(s, "big.pth", pthsafe::load_mode::mmap, true); }
void BM_ManyTensorsParse(benchmark::State& s) { load_bench(s, "many.pth", pthsafe::load_mode::metadata, false); }
void BM_ManyTensorsMmap(benchmark::State& s) { load_bench(s, "many.pth", pthsafe::load_mode::mmap, false); }
void BM_ManyTensorsCopy(benchmark::State& s) { load_bench(s, "many.pth", pthsafe::load_mode::copy, false); }

// scan reads the directory and the pickle only: time must not depend on tensor bytes, so the
// reported bytes/s (file bytes) of the big file should dwarf any memory bandwidth.
void scan_bench(benchmark::State& state, const char* name) {
  const std::string path = input(name);
  if (!need(state, path)) return;
  pthsafe::verdict verdict = pthsafe::verdict::safe;
  for (auto _ : state) {
    auto rep = pthsafe::scan_file(path);
    verdict = rep.verdict;
    benchmark::DoNotOptimize(rep);
  }
  state.SetLabel(std::string("verdict ") + std::string(pthsafe::verdict_name(verdict)));
  state.SetBytesProcessed(static_cast<std::int64_t>(file_size(path) * state.iterations()));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
void BM_ScanBig(benchmark::State& s) { scan_bench(s, "big.pth"); }
void BM_ScanMany(benchmark::State& s) { scan_bench(s, "many.pth"); }

// The zip layer alone (strict walk + libzip cross-check + name checks) on 100,006 entries.
void BM_ZipOpenMany(benchmark::State& state) {
  const std::string path = input("many.pth");
  if (!need(state, path)) return;
  std::vector<std::byte> file(file_size(path));
  const int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0 || ::pread(fd, file.data(), file.size(), 0) != static_cast<ssize_t>(file.size())) {
    if (fd >= 0) ::close(fd);
    state.SkipWithError("cannot read many.pth");
    return;
  }
  ::close(fd);
  std::size_t entries = 0;
  for (auto _ : state) {
    auto a = pthsafe::detail::archive::open(file, pthsafe::limits{});
    if (!a) {
      state.SkipWithError(a.error_value().to_string().c_str());
      return;
    }
    entries = (*a)->entries().size();
    benchmark::DoNotOptimize(a);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(entries * state.iterations()));
}

// The machine's limit for a copy load: pread of the whole file into freshly allocated memory
// (faults included), with 1 and N threads (contiguous slices).
void BM_FreshPread(benchmark::State& state) {
  const std::string path = input("big.pth");
  if (!need(state, path)) return;
  const unsigned threads = static_cast<unsigned>(state.range(0));
  const std::size_t n = file_size(path);
  const int fd = ::open(path.c_str(), O_RDONLY);
  for (auto _ : state) {
    auto* buf = static_cast<std::byte*>(std::aligned_alloc(4096, (n + 4095) / 4096 * 4096));
    const std::size_t per = (n / threads + 4095) / 4096 * 4096;
    std::vector<std::thread> pool;
    for (unsigned t = 0; t < threads; ++t) {
      pool.emplace_back([&, t] {
        std::size_t b = std::min(n, per * t), e = std::min(n, per * (t + 1));
        while (b < e) {
          const ssize_t got = ::pread(fd, buf + b, std::min<std::size_t>(e - b, std::size_t{1} << 30), static_cast<off_t>(b));
          if (got <= 0) break;
          b += static_cast<std::size_t>(got);
        }
      });
    }
    for (auto& th : pool) th.join();
    benchmark::DoNotOptimize(buf[n / 2]);
    state.PauseTiming();
    std::free(buf);
    state.ResumeTiming();
  }
  ::close(fd);
  state.SetBytesProcessed(static_cast<std::int64_t>(n * state.iterations()));
}

}  // namespace

BENCHMARK(BM_FreshPread)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(5);
BENCHMARK(BM_CopyLoad)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(5);
BENCHMARK(BM_MmapOpen)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(BM_MmapTouch)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_ManyTensorsParse)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_ManyTensorsMmap)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_ManyTensorsCopy)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_ZipOpenMany)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_ScanBig)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(BM_ScanMany)->Unit(benchmark::kMillisecond)->UseRealTime();

int main(int argc, char** argv) {
  // libzip converts every entry's DOS time with mktime(); with TZ unset glibc stats
  // /etc/localtime on each call. The pthsafe CLI sets TZ the same way (see bench/NOTES.md).
  ::setenv("TZ", ":/etc/localtime", 0);
  if (const char* env = std::getenv("PTHSAFE_BENCH_CACHE")) g_dir = env;
  else if (const char* xdg = std::getenv("XDG_CACHE_HOME")) g_dir = std::string(xdg) + "/pthsafe-bench";
  else if (const char* home = std::getenv("HOME")) g_dir = std::string(home) + "/.cache/pthsafe-bench";
  std::vector<char*> rest;
  for (int i = 0; i < argc; ++i) {
    if (std::strcmp(argv[i], "--inputs") == 0 && i + 1 < argc) { g_dir = argv[++i]; continue; }
    if (std::strncmp(argv[i], "--inputs=", 9) == 0) { g_dir = argv[i] + 9; continue; }
    rest.push_back(argv[i]);
  }
  int n = static_cast<int>(rest.size());
  benchmark::Initialize(&n, rest.data());
  if (benchmark::ReportUnrecognizedArguments(n, rest.data())) return 1;
  benchmark::AddCustomContext("inputs", g_dir);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
