// The compact records of a loaded tree (bench/NOTES.md 37): a tensor keeps its shape and stride
// in one array with 16-bit counts and its device as a short view, a storage its zip entry index
// in 32 bits and a legacy view's root out of line, a value node shares words between kinds.
// What a caller reads through them is what the file says.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "model/state.hpp"
#include "pthsafe/pthsafe.hpp"
#include "support/pickle_builder.hpp"

using namespace pthsafe_test;
using pthsafe::errc;

namespace {

// torch._utils._rebuild_device_tensor_from_cpu_tensor(<a float32 tensor of 2>, float32, device,
// requires_grad) as the root of a zip checkpoint; requires_grad None when `rg_none`.
bytes device_tensor_checkpoint(const std::string& device, bool rg_none = false) {
  torch_pickler p;
  p.w.proto();
  p.global("torch._utils", "_rebuild_device_tensor_from_cpu_tensor");
  p.w.mark();
  tensor_spec t;
  t.key = "x";
  t.shape = {2};
  p.tensor(t);
  p.global("torch", "float32");
  p.w.binunicode(device);
  if (rg_none) p.w.none(); else p.w.newfalse();
  p.w.tuple();
  p.w.reduce();
  p.w.stop();
  return torch_checkpoint(p.w.take(), {{"0", float32_ramp(2)}}).build();
}

// torch._utils._rebuild_meta_tensor_no_storage(float32, size, stride, requires_grad) as the root.
bytes meta_tensor_checkpoint(const std::vector<std::int64_t>& size, const std::vector<std::int64_t>& stride, bool rg_none) {
  torch_pickler p;
  p.w.proto();
  p.global("torch._utils", "_rebuild_meta_tensor_no_storage");
  p.w.mark();
  p.global("torch", "float32");
  for (const auto* dims : {&size, &stride}) {
    p.w.mark();
    for (const auto d : *dims) p.w.integer(d);
    p.w.tuple();
  }
  if (rg_none) p.w.none(); else p.w.newfalse();
  p.w.tuple();
  p.w.reduce();
  p.w.stop();
  return torch_checkpoint(p.w.take(), {}).build();
}

std::string first_message(const pthsafe::scan_report& r) { return r.findings.empty() ? std::string() : r.findings.front().message; }

}  // namespace

TEST_CASE("records stay compact") {
  CHECK(sizeof(pthsafe::value) == 56);
  CHECK(sizeof(pthsafe::detail::tensor_record) == 64);
  CHECK(sizeof(pthsafe::detail::storage_record) == 64);
  CHECK(sizeof(pthsafe::detail::zip_entry) == 48);
}

TEST_CASE("a tensor rebuilt on a device torch.device refuses is refused, a valid one kept") {
  auto ok = pthsafe::checkpoint::open_buffer(device_tensor_checkpoint("xla:0"));
  REQUIRE_MESSAGE(ok, ok.error_value().to_string());
  REQUIRE(ok->tensor_count() == 1);
  CHECK(ok->tensor(0).device() == "xla:0");
  CHECK(ok->tensor(0).shape().size() == 1);
  CHECK(ok->tensor(0).shape()[0] == 2);
  CHECK(ok->tensor(0).strides()[0] == 1);
  // Before the records kept the device in 16 bits, any text was kept; torch raises on these.
  for (const std::string& bad : std::vector<std::string>{"not a device", "cuda:01", "cuda:", std::string(80, 'a'), std::string(70000, 'a')}) {
    CAPTURE(bad.size());
    CHECK(pthsafe::checkpoint::open_buffer(device_tensor_checkpoint(bad)).code() == errc::bad_device);
  }
}

TEST_CASE("shape and stride share one array: every dim of a many-dim tensor reads back") {
  tensor_spec t;
  t.key = "w";
  t.shape = {1, 2, 1, 3, 1, 1, 2};
  t.stride = {100, 6, 50, 2, 7, 9, 1};  // not contiguous: a view into a large enough storage
  t.storage_numel = 200;
  pthsafe::load_options o;
  auto ck = pthsafe::checkpoint::open_buffer(torch_checkpoint(state_dict_pickle({t}), {{"0", float32_ramp(200)}}).build(), o);
  REQUIRE_MESSAGE(ck, ck.error_value().to_string());
  const auto v = ck->tensor(0);
  REQUIRE(v.shape().size() == t.shape.size());
  REQUIRE(v.strides().size() == t.stride.size());
  for (std::size_t i = 0; i < t.shape.size(); ++i) {
    CAPTURE(i);
    CHECK(v.shape()[i] == t.shape[i]);
    CHECK(v.strides()[i] == t.stride[i]);
  }
}

TEST_CASE("refusals keep the codes they had before the records shrank: checks run in the old order") {
  // requires_grad is checked before the device is judged a device torch accepts.
  CHECK(pthsafe::checkpoint::open_buffer(device_tensor_checkpoint("not a device", true)).code() == errc::bad_rebuild_args);
  // A meta tensor: requires_grad first, then the dim counts (size against max_dims, then as many
  // strides as sizes), as validate_view decides them.
  const std::vector<std::int64_t> two = {2, 3}, sixty_five(65, 1);
  CHECK(pthsafe::checkpoint::open_buffer(meta_tensor_checkpoint(two, sixty_five, false)).code() == errc::tensor_bad_geometry);
  CHECK(pthsafe::checkpoint::open_buffer(meta_tensor_checkpoint(two, sixty_five, true)).code() == errc::bad_rebuild_args);
  CHECK(pthsafe::checkpoint::open_buffer(meta_tensor_checkpoint(sixty_five, sixty_five, true)).code() == errc::bad_rebuild_args);
  CHECK(pthsafe::checkpoint::open_buffer(meta_tensor_checkpoint(sixty_five, sixty_five, false)).code() == errc::limit_exceeded);
  auto ok = pthsafe::checkpoint::open_buffer(meta_tensor_checkpoint(two, {3, 1}, false));
  REQUIRE_MESSAGE(ok, ok.error_value().to_string());
  CHECK(ok->tensor(0).device() == "meta");
}

TEST_CASE("the walk budget is counted in fixed units: the same file gets the same budget") {
  // max_tree_bytes is charged 64 bytes a value node whatever sizeof(value) is (charged_value_bytes),
  // so the budgets of these hostile files are what they were with 64-byte nodes.
  const std::string dir = std::string(PTHSAFE_FIXTURES) + "/../hostile/files/";
  const std::pair<const char*, const char*> cases[] = {{"shared_tuple_dict_key.pkl", "(68032 values)"},
                                                       {"memo_doubling_tuples.pkl", "(67936 values)"},
                                                       {"memo_billion_laughs.pkl", "(66144 values)"}};
  for (const auto& c : cases) {
    const std::string file = c.first;
    CAPTURE(file);
    const auto r = pthsafe::scan_file(dir + file);
    CHECK(r.verdict == pthsafe::verdict::malformed);
    CHECK(first_message(r).find(c.second) != std::string::npos);
  }
}
