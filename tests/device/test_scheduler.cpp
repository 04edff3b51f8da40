// The chunk scheduler against the fake engine: every byte reaches its place exactly once, in
// order, buffers are reused in turn only after their event, copies overlap, and a failure
// mid-way leaves nothing in flight.
#include <doctest/doctest.h>

#include <cstring>
#include <numeric>
#include <set>
#include <vector>

#include "device/fake_engine.hpp"
#include "device/scheduler.hpp"

namespace {

using namespace pthsafe;
using detail::stage_segment;

struct setup {
  std::shared_ptr<test::fake_ledger> ledger = std::make_shared<test::fake_ledger>();
  test::fake_engine engine{ledger};
};

std::vector<std::byte> pattern(std::size_t n, unsigned seed) {
  std::vector<std::byte> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<std::byte>((i * 131 + seed * 7 + (i >> 8)) & 0xff);
  return v;
}

}  // namespace

TEST_CASE("fill_range: segment bytes at their offsets, zeros in the gaps, any window") {
  const auto a = pattern(10, 1), b = pattern(7, 2);
  const std::vector<stage_segment> segs{{a.data(), 10, 3, "a"}, {b.data(), 7, 20, "b"}};
  std::vector<std::byte> whole(30, std::byte{0x55});
  detail::fill_range(whole.data(), 0, 30, segs);
  for (std::size_t i = 0; i < 30; ++i) {
    const std::byte want = i >= 3 && i < 13 ? a[i - 3] : i >= 20 && i < 27 ? b[i - 20] : std::byte{0};
    CHECK(whole[i] == want);
  }
  for (std::uint64_t begin = 0; begin < 30; ++begin)
    for (std::uint64_t end = begin + 1; end <= 30; ++end) {  // every non-empty window
      std::vector<std::byte> part(end - begin, std::byte{0x55});
      detail::fill_range(part.data(), begin, end, segs);
      CHECK(std::memcmp(part.data(), whole.data() + begin, end - begin) == 0);
    }
}

TEST_CASE("stream_to_device: every byte exactly once, windows in order, buffers reused in turn") {
  for (unsigned buffers : {1u, 2u, 3u}) {
    for (unsigned streams = 1; streams <= buffers; ++streams) {
      setup s;
      const auto a = pattern(5000, 1), b = pattern(12345, 2), c = pattern(1, 3);
      const std::vector<stage_segment> segs{{a.data(), a.size(), 0, "a"}, {b.data(), b.size(), 5120, "b"}, {c.data(), 1, 17664, "c"}};
      const std::uint64_t total = 17665;
      detail::pinned_pool pool;
      REQUIRE(pool.allocate(s.engine, buffers, 4096));
      std::vector<std::byte> device(total, std::byte{0xEE});
      detail::stage_options o;
      o.buffers = buffers;
      o.streams = streams;
      o.fill_threads = 3;
      REQUIRE(detail::stream_to_device(s.engine, 0, device.data(), total, segs, pool, o));
      // Bytes: each segment at its place, zeros between.
      CHECK(std::memcmp(device.data(), a.data(), a.size()) == 0);
      CHECK(std::memcmp(device.data() + 5120, b.data(), b.size()) == 0);
      CHECK(device[17664] == c[0]);
      for (std::size_t i = 5000; i < 5120; ++i) CHECK(device[i] == std::byte{0});
      // Copies: consecutive windows covering [0, total) once, each from buffer k % buffers.
      const auto& log = s.ledger->copies;
      REQUIRE(log.size() == (total + 4095) / 4096);
      std::uint64_t at = 0;
      for (std::size_t k = 0; k < log.size(); ++k) {
        CHECK(log[k].dst == device.data() + at);
        CHECK(log[k].src == pool.buffers()[k % buffers]);
        CHECK(log[k].stream == k % streams);
        CHECK(log[k].executed);
        at += log[k].n;
      }
      CHECK(at == total);
      CHECK(s.ledger->synchronizes == 1);
      CHECK_FALSE(s.ledger->lanes_open);
      // Overlap: with b buffers, up to b - 1 earlier copies are still in flight at each issue.
      std::size_t most = 0;
      for (const auto& c2 : log) most = std::max(most, c2.pending_at_issue);
      CHECK(most == std::min<std::size_t>(buffers - 1, log.size() - 1));
    }
  }
}

TEST_CASE("stream_to_device: large windows are filled by several threads with the same bytes") {
  setup s;
  const auto a = pattern((std::size_t{3} << 20) + 77, 5);
  const std::vector<stage_segment> segs{{a.data(), a.size(), 0, "a"}};
  detail::pinned_pool pool;
  REQUIRE(pool.allocate(s.engine, 2, std::size_t{2} << 20));
  std::vector<std::byte> device(a.size());
  detail::stage_options o;
  o.buffers = 2;
  o.streams = 2;
  o.fill_threads = 4;
  REQUIRE(detail::stream_to_device(s.engine, 0, device.data(), a.size(), segs, pool, o));
  CHECK(device == a);
  CHECK(s.ledger->copies.size() == 2);
}

TEST_CASE("stream_to_device: a failing copy mid-way waits for the copies in flight and names the CUDA error") {
  setup s;
  s.ledger->fail_copy_at = 3;
  const auto a = pattern(40000, 9);
  const std::vector<stage_segment> segs{{a.data(), a.size(), 0, "a"}};
  {
    detail::pinned_pool pool;
    REQUIRE(pool.allocate(s.engine, 3, 4096));
    std::vector<std::byte> device(a.size());
    detail::stage_options o;
    auto r = detail::stream_to_device(s.engine, 0, device.data(), a.size(), segs, pool, o);
    REQUIRE_FALSE(r);
    CHECK(r.code() == errc::cuda_error);
    CHECK(r.error_value().message.find("cudaErrorLaunchFailure") != std::string::npos);
    CHECK(s.ledger->pending() == 0);
    CHECK_FALSE(s.ledger->lanes_open);
    CHECK(s.ledger->copies.size() == 3);
  }
  CHECK(s.ledger->pinned.empty());
  CHECK_FALSE(s.ledger->freed_pinned_while_pending);
}

TEST_CASE("stream_to_device: nothing to copy issues nothing") {
  setup s;
  detail::pinned_pool pool;
  REQUIRE(pool.allocate(s.engine, 2, 4096));
  REQUIRE(detail::stream_to_device(s.engine, 0, nullptr, 0, {}, pool, detail::stage_options{}));
  CHECK(s.ledger->copies.empty());
}
