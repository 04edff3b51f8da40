// map_location parsing and resolution (torch.load's rules: torch/serialization.py).
#include <doctest/doctest.h>

#include <string>

#include "pthsafe/cuda.hpp"

using namespace pthsafe;
using cuda::device;
using cuda::map_location;

namespace {
const device cpu{};
device gpu(int i) { return device{device::kind::cuda, i}; }
device val(const result<device>& r) { return r.value(); }
}  // namespace

TEST_CASE("parse_device: cpu, cuda, cuda:N; anything else is cuda_bad_map_location") {
  CHECK(val(cuda::parse_device("cpu")) == cpu);
  CHECK(val(cuda::parse_device("cuda")) == gpu(0));
  CHECK(val(cuda::parse_device("cuda:0")) == gpu(0));
  CHECK(val(cuda::parse_device("cuda:12")) == gpu(12));
  for (const char* bad : {"", "gpu", "cuda:", "cuda:01", "cuda:-1", "cuda:x", "cuda:1 ", "CUDA:0", "cuda:99999", "mps", "meta"}) {
    CAPTURE(bad);
    CHECK(cuda::parse_device(bad).code() == errc::cuda_bad_map_location);
  }
  CHECK(cuda::device_name(gpu(3)) == "cuda:3");
  CHECK(cuda::device_name(cpu) == "cpu");
}

TEST_CASE("default map_location: each storage's saved location, a missing device an error naming it") {
  const map_location m;
  CHECK(val(m.resolve("cpu", 0)) == cpu);
  CHECK(val(m.resolve("cuda:1", 2)) == gpu(1));
  auto r = m.resolve("cuda:1", 1);
  REQUIRE(r.code() == errc::cuda_no_device);
  CHECK(r.error_value().message.find("cuda:1") != std::string::npos);
  CHECK(r.error_value().message.find("no CUDA device") != std::string::npos);
  CHECK(m.resolve("cuda:0", 0).code() == errc::cuda_no_device);
  CHECK(m.resolve("xla:0", 1).code() == errc::cuda_bad_map_location);
}

TEST_CASE("a device string maps everything") {
  const map_location m = map_location::to(gpu(0));
  CHECK(val(m.resolve("cpu", 1)) == gpu(0));
  CHECK(val(m.resolve("cuda:3", 1)) == gpu(0));
  CHECK(val(m.resolve("xla:0", 1)) == gpu(0));  // torch: a string target ignores the saved location
  CHECK(map_location::to(cpu).resolve("cuda:5", 0).has_value());
}

TEST_CASE("a table maps its saved locations exactly and leaves the others") {
  auto m = map_location::parse("cuda:1=cuda:0,cpu=cuda:0");
  REQUIRE(m);
  CHECK(val(m->resolve("cuda:1", 1)) == gpu(0));
  CHECK(val(m->resolve("cpu", 1)) == gpu(0));
  CHECK(val(m->resolve("cuda:0", 1)) == gpu(0));
  CHECK(m->resolve("cuda:2", 1).code() == errc::cuda_no_device);  // not in the table: kept, absent
  CHECK(m->resolve("cuda", 1).has_value());                       // "cuda" is not "cuda:1"
  for (const char* bad : {"=cuda:0", "cuda:1=", "cuda:1=gpu", "a=cpu,a=cpu", "cuda:1=cuda:0,", "cuda:1=cuda:0,,cpu=cpu"}) {
    CAPTURE(bad);
    CHECK(map_location::parse(bad).code() == errc::cuda_bad_map_location);
  }
  CHECK(val(map_location::parse("cuda:1").value().resolve("cpu", 2)) == gpu(1));
}

TEST_CASE("a callback decides per storage; nullopt keeps the saved location") {
  int calls = 0;
  const map_location m = map_location::callback([&](std::string_view saved) -> std::optional<std::string> {
    ++calls;
    if (saved == "cpu") return std::nullopt;
    if (saved == "cuda:7") return std::string("nowhere");
    return std::string("cuda:0");
  });
  CHECK(val(m.resolve("cpu", 1)) == cpu);
  CHECK(val(m.resolve("cuda:3", 1)) == gpu(0));
  CHECK(m.resolve("cuda:7", 1).code() == errc::cuda_bad_map_location);
  CHECK(calls == 3);
}
