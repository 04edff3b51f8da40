// Whole device loads through the fake engine: torch-made fixtures land byte-exactly where
// map_location says, shared storages once, the value tree as on the CPU; failures free every
// device and pinned buffer; DLPack export describes the tensor and keeps its memory alive.
#include <doctest/doctest.h>

#include <cstring>
#include <set>
#include <string>

#include "device/device_state.hpp"
#include "device/fake_engine.hpp"
#include "pthsafe/pthsafe.hpp"

namespace {

using namespace pthsafe;
using cuda::device;

std::string fixture(const char* name) { return std::string(PTHSAFE_FIXTURES) + "/" + name; }

result<cuda::device_checkpoint> fake_load(const std::shared_ptr<test::fake_ledger>& l, const std::string& path,
                                          cuda::device_load_options o = {}) {
  return cuda::detail::device_state::load(path, o, std::make_unique<test::fake_engine>(l));
}

// Every storage of the device load equals the CPU load's bytes, at the target device.
void check_same_bytes(const cuda::device_checkpoint& d, const checkpoint& cpu, device where) {
  REQUIRE(d.storage_count() == cpu.storage_count());
  for (std::size_t i = 0; i < cpu.storage_count(); ++i) {
    const auto ds = d.storage(i);
    const auto bytes = cpu.storage(i).bytes();
    CAPTURE(i);
    CHECK(ds.where == where);
    CHECK(ds.nbytes == bytes.size());
    if (!bytes.empty()) CHECK(std::memcmp(ds.data, bytes.data(), bytes.size()) == 0);
  }
}

}  // namespace

TEST_CASE("device load to cuda:0 (fake engine): every fixture storage byte-exact, tensors point into them") {
  for (const char* name : {"state_dict.pth", "dtypes.pt", "big_endian.pt", "legacy.pt", "cuda_location.pt", "sparse.pt",
                           "quantized.pt", "scalars_empty.pt", "requires_grad.pt", "proto4.pt"}) {
    CAPTURE(name);
    auto cpu = checkpoint::open(fixture(name));
    REQUIRE(cpu);
    auto ledger = std::make_shared<test::fake_ledger>();
    cuda::device_load_options o;
    o.location = cuda::map_location::to({device::kind::cuda, 0});
    o.staging_bytes = 4096;  // many windows even for small fixtures
    auto d = fake_load(ledger, fixture(name), o);
    REQUIRE(d);
    check_same_bytes(*d, *cpu, {device::kind::cuda, 0});
    REQUIRE(d->tensor_count() == cpu->tensor_count());
    for (std::size_t i = 0; i < cpu->tensor_count(); ++i) {
      const auto t = d->tensor(i);
      const auto c = cpu->tensor(i);
      CHECK(t.element_type == c.element_type());
      CHECK(t.shape.size() == c.shape().size());
      CHECK(t.storage_offset == c.storage_offset());
      if (c.data() && c.nbytes()) {
        REQUIRE(t.data);
        CHECK(std::memcmp(t.data, c.data(), std::min<std::uint64_t>(c.nbytes(), itemsize(c.element_type()))) == 0);
      }
    }
    // One device block; every copy went through the staging pool; all done.
    CHECK(ledger->device_memory.size() <= 1);
    CHECK(ledger->pending() == 0);
    CHECK(ledger->pinned.empty());  // the pool is freed once the load has synchronized
    for (const auto& c : ledger->copies) CHECK(std::set<std::byte*>(ledger->pinned_ever.begin(), ledger->pinned_ever.end()).count(const_cast<std::byte*>(c.src)) == 1);
  }
}

TEST_CASE("shared storages are copied once; the value tree is the CPU load's") {
  auto ledger = std::make_shared<test::fake_ledger>();
  cuda::device_load_options o;
  o.location = cuda::map_location::to({device::kind::cuda, 0});
  auto d = fake_load(ledger, fixture("state_dict.pth"), o);
  REQUIRE(d);
  auto cpu = checkpoint::open(fixture("state_dict.pth"));
  std::uint64_t copied = 0;
  for (const auto& c : ledger->copies) copied += c.n;
  // Storages padded to 256 bytes, each once: the copied total is the block size.
  REQUIRE(ledger->device_memory.size() == 1);
  CHECK(copied == ledger->device_memory.begin()->second);
  CHECK(copied < cpu->storage_bytes() + 256 * cpu->storage_count());
  CHECK(d->host().root().kind() == cpu->root().kind());
  CHECK(d->host().root().items().size() == cpu->root().items().size());
  auto t = d->host().find_tensor("0.bias");
  REQUIRE(t);
  auto dt = d->locate(*t);
  REQUIRE(dt);
  CHECK(dt->where == device{device::kind::cuda, 0});
  float v[3];
  std::memcpy(v, dt->data, sizeof v);
  CHECK(v[0] == doctest::Approx(0.23477113));
}

TEST_CASE("default map_location: cpu storages stay on the host, cuda storages need their device") {
  auto ledger = std::make_shared<test::fake_ledger>();
  auto d = fake_load(ledger, fixture("state_dict.pth"));
  REQUIRE(d);
  CHECK(ledger->copies.empty());
  auto cpu = checkpoint::open(fixture("state_dict.pth"));
  check_same_bytes(*d, *cpu, device{});
  // cuda_location.pt was saved on cuda:0: with one device it goes there, with none it fails.
  auto g = fake_load(ledger, fixture("cuda_location.pt"));
  REQUIRE(g);
  CHECK(g->storage(0).where == device{device::kind::cuda, 0});
  auto none = std::make_shared<test::fake_ledger>();
  none->devices = 0;
  auto r = fake_load(none, fixture("cuda_location.pt"));
  REQUIRE(r.code() == errc::cuda_no_device);
  CHECK(r.error_value().message.find("no CUDA device") != std::string::npos);
  CHECK(none->device_memory.empty());
  // torch's map_location="cpu" works everywhere.
  cuda::device_load_options o;
  o.location = cuda::map_location::to(device{});
  REQUIRE(fake_load(none, fixture("cuda_location.pt"), o));
}

TEST_CASE("a failure mid-way frees every device and pinned buffer") {
  for (int at : {0, 1}) {  // dtypes.pt needs two 4 KiB windows
    CAPTURE(at);
    auto ledger = std::make_shared<test::fake_ledger>();
    ledger->fail_copy_at = at;
    cuda::device_load_options o;
    o.location = cuda::map_location::to({device::kind::cuda, 0});
    o.staging_bytes = 4096;
    auto r = fake_load(ledger, fixture("dtypes.pt"), o);
    REQUIRE(r.code() == errc::cuda_error);
    CHECK(ledger->device_memory.empty());
    CHECK(ledger->pinned.empty());
    CHECK(ledger->pending() == 0);
    CHECK_FALSE(ledger->freed_pinned_while_pending);
  }
  auto ledger = std::make_shared<test::fake_ledger>();
  ledger->fail_alloc_device = 1;
  cuda::device_load_options o;
  o.location = cuda::map_location::to({device::kind::cuda, 0});
  CHECK(fake_load(ledger, fixture("dtypes.pt"), o).code() == errc::cuda_error);
  CHECK(ledger->pinned.empty());
}

TEST_CASE("staging options out of range are refused naming the field") {
  auto ledger = std::make_shared<test::fake_ledger>();
  cuda::device_load_options o;
  o.staging_buffers = 0;
  auto r = fake_load(ledger, fixture("state_dict.pth"), o);
  REQUIRE(r.code() == errc::limit_exceeded);
  CHECK(r.error_value().message.find("staging_buffers") != std::string::npos);
  o = {};
  o.streams = 4;  // more than the 3 buffers
  CHECK(fake_load(ledger, fixture("state_dict.pth"), o).code() == errc::limit_exceeded);
  o = {};
  o.staging_bytes = 100;
  CHECK(fake_load(ledger, fixture("state_dict.pth"), o).code() == errc::limit_exceeded);
}

TEST_CASE("DLPack export: device, dtype, shape, strides; memory outlives the checkpoint until the deleter") {
  auto ledger = std::make_shared<test::fake_ledger>();
  cuda::device_load_options o;
  o.location = cuda::map_location::to({device::kind::cuda, 0});
  dlpack::DLManagedTensor* m = nullptr;
  {
    auto d = fake_load(ledger, fixture("state_dict.pth"), o);
    REQUIRE(d);
    const auto t = d->tensor(0);
    auto r = d->to_dlpack(0);
    REQUIRE(r);
    m = *r;
    CHECK(m->dl_tensor.device.device_type == dlpack::kDLCUDA);
    CHECK(m->dl_tensor.device.device_id == 0);
    CHECK(m->dl_tensor.data == t.data);
    CHECK(m->dl_tensor.ndim == static_cast<std::int32_t>(t.shape.size()));
    CHECK(m->dl_tensor.dtype.code == dlpack::kDLFloat);
    CHECK(m->dl_tensor.dtype.bits == 32);
    CHECK(m->dl_tensor.dtype.lanes == 1);
    for (std::size_t k = 0; k < t.shape.size(); ++k) {
      CHECK(m->dl_tensor.shape[k] == t.shape[k]);
      CHECK(m->dl_tensor.strides[k] == t.strides[k]);
    }
  }
  CHECK(ledger->device_memory.size() == 1);  // still held by the DLPack tensor
  m->deleter(m);
  CHECK(ledger->device_memory.empty());
}
