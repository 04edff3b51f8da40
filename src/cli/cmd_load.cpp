// pthsafe load [--mmap] [--touch] [--json] [--map-location SPEC] FILE
#include <array>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "cli/commands.hpp"
#include "pthsafe/cuda.hpp"
#include "pthsafe/pthsafe.hpp"
#include "util/json.hpp"

namespace pthsafe::cli {
namespace {
const char* help =
    "usage: pthsafe load [--mmap [--refuse-copy]] [--torchscript] [--touch] [--json] [--verify-crc]\n"
    "                    [--map-location SPEC] FILE\n"
    "Loads every tensor (copied into aligned buffers, or zero-copy with --mmap; --refuse-copy\n"
    "fails instead of copying a storage that cannot be mapped); --torchscript reads the tensors\n"
    "of a TorchScript archive (never its code); --touch then reads every storage byte\n"
    "(summed as 64-bit words, on every core). Prints tensors, storages, bytes, seconds and\n"
    "GiB/s; --json prints\n"
    "{\"tensors\":N,\"storages\":M,\"bytes\":B,\"seconds\":S,\"teardown_seconds\":T,\"peak_rss\":P,\"rss_anon\":A,\"rss_file\":F}\n"
    "(process memory in bytes from /proc/self/status: VmHWM, RssAnon and RssFile after the load;\n"
    "teardown_seconds: freeing the checkpoint afterwards, part of the time to exit).\n"
    "--map-location SPEC loads the storages onto devices as torch.load's map_location: cpu, cuda,\n"
    "cuda:N, or a table saved=target[,saved=target...] (cuda:1=cuda:0,cpu=cuda:0); seconds then\n"
    "include the final synchronize (not with --touch).\n"
    "Exit: 0 ok, 1 refused, 2 malformed (and no such device).\n";

// Sums every byte as 64-bit words so the compiler cannot skip the reads (a trailing partial
// word byte by byte). The sum does not depend on how a storage is cut into 8-byte-aligned pieces.
std::uint64_t touch(std::span<const std::byte> b) {
  std::uint64_t acc[4] = {0, 0, 0, 0};
  std::size_t i = 0;
  for (; i + 32 <= b.size(); i += 32)
    for (int k = 0; k < 4; ++k) {
      std::uint64_t w;
      std::memcpy(&w, b.data() + i + std::size_t{8} * static_cast<std::size_t>(k), 8);
      acc[k] += w;
    }
  std::uint64_t sum = acc[0] + acc[1] + acc[2] + acc[3];
  for (; i + 8 <= b.size(); i += 8) {
    std::uint64_t w;
    std::memcpy(&w, b.data() + i, 8);
    sum += w;
  }
  for (; i < b.size(); ++i) sum += static_cast<std::uint8_t>(b[i]);
  return sum;
}

// --touch on every core, as torch's own reductions do: the storages are cut into 16 MiB pieces
// that the threads take in turn (the first touch of a mapped page costs a fault; faults and
// reads then proceed in parallel).
std::uint64_t touch_all(const checkpoint& ck) {
  constexpr std::size_t piece = std::size_t{16} << 20;
  std::vector<std::span<const std::byte>> parts;
  for (std::size_t i = 0; i < ck.storage_count(); ++i) {
    const auto b = ck.storage(i).bytes();
    for (std::size_t at = 0; at < b.size(); at += piece) parts.push_back(b.subspan(at, std::min(piece, b.size() - at)));
  }
  const unsigned threads = std::max(1u, std::min<unsigned>(std::thread::hardware_concurrency(), 8));
  std::atomic<std::size_t> next{0};
  std::vector<std::uint64_t> sums(threads, 0);
  auto work = [&](unsigned t) {
    for (std::size_t k; (k = next.fetch_add(1)) < parts.size();) sums[t] += touch(parts[k]);
  };
  std::vector<std::thread> pool;
  for (unsigned t = 1; t < threads && parts.size() > 1; ++t) {
    try {
      pool.emplace_back(work, t);
    } catch (const std::system_error&) {
      break;
    }
  }
  work(0);
  for (auto& th : pool) th.join();
  std::uint64_t sum = 0;
  for (auto v : sums) sum += v;
  return sum;
}

// VmHWM / RssAnon / RssFile of this process in bytes (0 where /proc is not available).
struct memory_figures {
  unsigned long long peak = 0, anon = 0, file = 0;
};
memory_figures read_memory() {
  memory_figures m;
  std::FILE* f = std::fopen("/proc/self/status", "r");
  if (!f) return m;
  std::array<char, 256> line{};
  while (std::fgets(line.data(), static_cast<int>(line.size()), f)) {
    unsigned long long kb = 0;
    if (std::sscanf(line.data(), "VmHWM: %llu kB", &kb) == 1) m.peak = kb * 1024;
    else if (std::sscanf(line.data(), "RssAnon: %llu kB", &kb) == 1) m.anon = kb * 1024;
    else if (std::sscanf(line.data(), "RssFile: %llu kB", &kb) == 1) m.file = kb * 1024;
  }
  std::fclose(f);
  return m;
}
}  // namespace

int cmd_load(const std::vector<std::string>& args) {
  load_options opts;
  bool json = false, do_touch = false, bad = false;
  std::string file;
  std::optional<std::string> location;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--help" || a == "-h") { std::fputs(help, stdout); return 0; }
    if (a == "--version") { std::printf("pthsafe %s\n", version()); return 0; }
    if (a == "--json") { json = true; continue; }
    if (load_option(a, opts)) continue;
    if (a == "--touch") { do_touch = true; continue; }
    if (a == "--map-location") {
      if (i + 1 >= args.size()) { std::fprintf(stderr, "pthsafe load: --map-location needs a value\n%s", help); return 2; }
      location = args[++i];
      continue;
    }
    if (common_option(args, i, opts, bad)) { if (bad) return 2; continue; }
    if (!a.empty() && a[0] == '-') { std::fprintf(stderr, "pthsafe load: unknown option %s\n%s", shown(a).c_str(), help); return 2; }
    file = a;
  }
  if (file.empty()) { std::fputs(help, stderr); return 2; }
  if (location && do_touch) { std::fputs("pthsafe load: --touch reads host memory: not with --map-location\n", stderr); return 2; }
  const auto t0 = std::chrono::steady_clock::now();
  std::optional<checkpoint> host;
  std::optional<cuda::device_checkpoint> dev;
  std::uint64_t sink = 0;
  if (location) {
    auto where = cuda::map_location::parse(*location);
    if (!where) return report(file, where.error_value());
    cuda::device_load_options dopts;
    dopts.load = opts;
    dopts.location = std::move(*where);
    auto d = cuda::device_checkpoint::open(file, dopts);  // returns after the final synchronize
    if (!d) return report(file, d.error_value());
    dev.emplace(std::move(*d));
  } else {
    auto ck = checkpoint::open(file, opts);
    if (!ck) return report(file, ck.error_value());
    host.emplace(std::move(*ck));
    if (do_touch) sink = touch_all(*host);
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const checkpoint& ck_ref = dev ? dev->host() : *host;
  const checkpoint* ck = &ck_ref;
  const std::uint64_t bytes = ck->storage_bytes();
  if (json) {
    const memory_figures mem = read_memory();
    const std::uint64_t tensors = ck->tensor_count(), storages = ck->storage_count();
    // Time to exit counts too (issue 11): the checkpoint is freed before the figures print.
    const auto t1 = std::chrono::steady_clock::now();
    ck = nullptr;
    dev.reset();
    host.reset();
    const double teardown = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
    detail::json_writer w;
    w.begin_object()
        .key("tensors").num(tensors)
        .key("storages").num(storages)
        .key("bytes").num(bytes)
        .key("seconds").real(secs)
        .key("teardown_seconds").real(teardown)
        .key("peak_rss").num(std::uint64_t{mem.peak})
        .key("rss_anon").num(std::uint64_t{mem.anon})
        .key("rss_file").num(std::uint64_t{mem.file})
        .end_object();
    std::printf("%s\n", w.text().c_str());
  } else {
    std::printf("%s: %zu tensors, %zu storages, %llu bytes in %.6f s (%.3f GiB/s)", shown(file).c_str(), ck->tensor_count(),
                ck->storage_count(), static_cast<unsigned long long>(bytes), secs,
                secs > 0 ? static_cast<double>(bytes) / secs / (1024.0 * 1024.0 * 1024.0) : 0.0);
    if (do_touch) std::printf(", touched (byte sum %016llx)", static_cast<unsigned long long>(sink));
    std::printf("\n");
  }
  return 0;
}

}  // namespace pthsafe::cli
