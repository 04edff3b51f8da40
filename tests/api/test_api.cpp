// The public API on files torch wrote (tests/fixtures, described in fixtures/manifest.json): key
// paths, tensor metadata, storages in copy / mmap / metadata mode, errors, and the xtensor adaptor.
// Expected values come from the fixtures' *.expected.json (computed by torch).
#include <doctest/doctest.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "pthsafe/report.hpp"
#include "pthsafe/pthsafe.hpp"
#include "support/pickle_builder.hpp"

#ifdef PTHSAFE_HAVE_XTENSOR
#include "pthsafe/xtensor.hpp"
#endif

using pthsafe::dtype;
using pthsafe::errc;
using pthsafe::load_mode;
using pthsafe::value_kind;

namespace {

std::string fixture(const char* name) { return std::string(PTHSAFE_FIXTURES) + "/" + name; }

pthsafe::result<pthsafe::checkpoint> open(const char* name, load_mode mode) {
  pthsafe::load_options o;
  o.mode = mode;
  return pthsafe::checkpoint::open(fixture(name), o);
}

std::vector<std::int64_t> vec(std::span<const std::int64_t> s) { return {s.begin(), s.end()}; }

float float_at(const std::byte* base, std::int64_t element) {
  float f;
  std::memcpy(&f, base + element * 4, 4);
  return f;
}

}  // namespace

TEST_CASE("state_dict.pth: tensors by key, in copy and mmap mode") {
  for (auto mode : {load_mode::copy, load_mode::mmap}) {
    CAPTURE(static_cast<int>(mode));
    auto ck = open("state_dict.pth", mode);
    REQUIRE_MESSAGE(ck, ck.error_value().to_string());
    CHECK(ck->format() == pthsafe::container_format::zip);
    CHECK(ck->archive_name() == "state_dict");
    CHECK(ck->mode() == mode);
    CHECK_FALSE(ck->big_endian());
    CHECK(ck->root().kind() == value_kind::ordered_dict);
    CHECK(ck->tensor_count() == 9);
    CHECK(ck->storage_count() == 9);
    CHECK(ck->storage_bytes() == 216 + 5 * 12 + 8 + 192 + 16);
    CHECK(ck->warnings().empty());

    auto w = ck->find_tensor("0.weight");
    REQUIRE(w);
    CHECK(w->element_type() == dtype::float32);
    CHECK(vec(w->shape()) == std::vector<std::int64_t>{3, 2, 3, 3});
    CHECK(vec(w->strides()) == std::vector<std::int64_t>{18, 9, 3, 1});
    CHECK(w->ndim() == 4);
    CHECK(w->storage_offset() == 0);
    CHECK(w->numel() == 54);
    CHECK(w->nbytes() == 216);
    CHECK(w->is_contiguous());
    CHECK(w->device() == "cpu");
    CHECK_FALSE(w->requires_grad());
    CHECK_FALSE(w->is_parameter());
    CHECK_FALSE(w->is_conj());
    CHECK_FALSE(w->is_neg());
    REQUIRE(w->has_storage());
    CHECK(w->storage().key() == "0");
    CHECK(w->storage().record() == "state_dict/data/0");
    CHECK(w->storage().element_type() == dtype::float32);
    CHECK(w->storage().nbytes() == 216);
    REQUIRE(w->data() != nullptr);
    CHECK(w->data() == w->storage().bytes().data());
    // sha256 of the elements, as torch computed it for state_dict.expected.json.
    CHECK(pthsafe::tensor_sha256(*w) == "4f0d66214d94c120d928def6bed71f7c7bbd6b8bef7eff267ea65718fc75e62f");

    auto n = ck->find_tensor("1.num_batches_tracked");
    REQUIRE(n);
    CHECK(n->element_type() == dtype::int64);
    CHECK(n->shape().empty());
    CHECK(n->strides().empty());
    CHECK(n->numel() == 1);
    CHECK(n->nbytes() == 8);
    CHECK(n->storage().element_type() == dtype::int64);

    // Tensors come in pickle order; the first one is 0.weight.
    CHECK(ck->tensor(0).storage().key() == "0");
    CHECK(ck->tensor(8).storage().key() == "8");
    CHECK(ck->storage(3).key() == "3");
  }
}

TEST_CASE("training_checkpoint.pth: nested and integer key paths") {
  for (auto mode : {load_mode::copy, load_mode::mmap}) {
    CAPTURE(static_cast<int>(mode));
    auto ck = open("training_checkpoint.pth", mode);
    REQUIRE_MESSAGE(ck, ck.error_value().to_string());
    CHECK(ck->root().kind() == value_kind::dict);
    CHECK(ck->tensor_count() == 27);
    CHECK(ck->storage_count() == 27);

    auto w = ck->find_tensor("model/0.weight");
    REQUIRE(w);
    CHECK(vec(w->shape()) == std::vector<std::int64_t>{3, 2, 3, 3});
    CHECK(w->storage().key() == "0");

    // optimizer.state is keyed by parameter index (ints): a decimal component finds them.
    auto avg = ck->find_tensor("optimizer/state/0/exp_avg");
    REQUIRE(avg);
    CHECK(avg->element_type() == dtype::float32);
    CHECK(vec(avg->shape()) == std::vector<std::int64_t>{3, 2, 3, 3});
    CHECK(avg->storage().key() == "10");
    auto step = ck->find_tensor("optimizer/state/5/step");
    REQUIRE(step);
    CHECK(step->shape().empty());
    CHECK(step->storage().key() == "24");
    const auto state = ck->find("optimizer/state");
    REQUIRE(state);
    CHECK((*state)->kind() == value_kind::dict);
    CHECK((*state)->items()[0]->kind() == value_kind::integer);

    // List indices and plain values.
    auto lr = ck->find("scheduler/base_lrs/0");
    REQUIRE(lr);
    CHECK((*lr)->as_double() == 0.001);
    auto hist = ck->find("metrics/history/2");
    REQUIRE(hist);
    CHECK((*hist)->as_double() == 0.25);
    auto betas = ck->find("optimizer/param_groups/0/betas/1");
    REQUIRE(betas);
    CHECK((*betas)->as_double() == 0.999);
    auto epoch = ck->find("epoch");
    REQUIRE(epoch);
    CHECK((*epoch)->as_int64() == 3);
    auto version = ck->find("version");
    REQUIRE(version);
    CHECK((*version)->text() == "1.2.3");
    auto model = ck->find("model");
    REQUIRE(model);
    CHECK((*model)->kind() == value_kind::ordered_dict);
    CHECK((*model)->size() == 9);
    CHECK(ck->find("").has_value());  // the empty path is the root
    CHECK(ck->find("").value() == &ck->root());
  }
}

TEST_CASE("lookup errors: not_found and type_mismatch") {
  auto ck = open("training_checkpoint.pth", load_mode::copy);
  REQUIRE(ck);
  for (const char* path : {"nope", "model/nope", "optimizer/state/99", "optimizer/state/0/exp_avg/x",
                           "scheduler/base_lrs/7", "scheduler/base_lrs/-1", "epoch/0", "model/0.weight/0"}) {
    CAPTURE(path);
    CHECK(ck->find_tensor(path).code() == errc::not_found);
    CHECK(ck->find(path).code() == errc::not_found);
  }
  for (const char* path : {"epoch", "model", "version", "optimizer/state", "metrics/history"}) {
    CAPTURE(path);
    auto r = ck->find_tensor(path);
    CHECK(r.code() == errc::type_mismatch);
    CHECK(pthsafe::classify(r.code()) == pthsafe::error_class::usage);
  }
}

TEST_CASE("requires_grad, parameter and device come from the file") {
  auto rg = open("requires_grad.pt", load_mode::copy);
  REQUIRE_MESSAGE(rg, rg.error_value().to_string());
  auto leaf = rg->find_tensor("leaf_requires_grad");
  REQUIRE(leaf);
  CHECK(leaf->requires_grad());
  CHECK_FALSE(leaf->is_parameter());
  auto param = rg->find_tensor("param");
  REQUIRE(param);
  CHECK(param->requires_grad());
  CHECK(param->is_parameter());
  auto frozen = rg->find_tensor("param_no_grad");
  REQUIRE(frozen);
  CHECK_FALSE(frozen->requires_grad());
  CHECK(frozen->is_parameter());

  auto cuda = open("cuda_location.pt", load_mode::copy);
  REQUIRE_MESSAGE(cuda, cuda.error_value().to_string());
  auto w = cuda->find_tensor("0.weight");
  REQUIRE(w);
  CHECK(w->device() == "cuda:0");
  REQUIRE(w->data() != nullptr);  // bytes are on the host whatever the recorded location
}

TEST_CASE("storages: identical bytes in copy and mmap mode; mapped and aligned") {
  for (const char* name : {"state_dict.pth", "training_checkpoint.pth", "dtypes.pt"}) {
    CAPTURE(name);
    auto copy = open(name, load_mode::copy);
    auto mapped = open(name, load_mode::mmap);
    REQUIRE(copy);
    REQUIRE(mapped);
    REQUIRE(copy->storage_count() == mapped->storage_count());
    REQUIRE(copy->storage_count() > 0);
    for (std::size_t i = 0; i < copy->storage_count(); ++i) {
      const auto a = copy->storage(i), b = mapped->storage(i);
      CAPTURE(a.record());
      CHECK(a.key() == b.key());
      CHECK(a.nbytes() == b.nbytes());
      REQUIRE(a.bytes().size() == a.nbytes());
      REQUIRE(b.bytes().size() == b.nbytes());
      CHECK(std::memcmp(a.bytes().data(), b.bytes().data(), a.nbytes()) == 0);
      CHECK_FALSE(a.is_mapped());
      CHECK(b.is_mapped());
      // Copy mode: every storage in its own 64-byte-aligned buffer.
      CHECK(reinterpret_cast<std::uintptr_t>(a.bytes().data()) % 64 == 0);
      // mmap mode: torch aligned every record to 64 bytes inside a page-aligned mapping.
      CHECK(reinterpret_cast<std::uintptr_t>(b.bytes().data()) % 64 == 0);
    }
    for (std::size_t i = 0; i < copy->tensor_count(); ++i) {
      const auto t = copy->tensor(i);
      if (t.numel() == 0) continue;
      CHECK(reinterpret_cast<std::uintptr_t>(t.data()) % 64 == (t.storage_offset() * pthsafe::itemsize(t.element_type())) % 64);
      CHECK(pthsafe::tensor_sha256(t) == pthsafe::tensor_sha256(mapped->tensor(i)));
    }
  }
}

TEST_CASE("metadata mode: every check, no bytes") {
  auto ck = open("training_checkpoint.pth", load_mode::metadata);
  REQUIRE(ck);
  CHECK(ck->mode() == load_mode::metadata);
  CHECK(ck->tensor_count() == 27);
  CHECK(ck->storage_count() == 27);
  CHECK(ck->storage_bytes() > 0);
  for (std::size_t i = 0; i < ck->storage_count(); ++i) {
    CHECK(ck->storage(i).bytes().empty());
    CHECK_FALSE(ck->storage(i).is_mapped());
    CHECK(ck->storage(i).nbytes() > 0);
  }
  auto w = ck->find_tensor("model/0.weight");
  REQUIRE(w);
  CHECK(vec(w->shape()) == std::vector<std::int64_t>{3, 2, 3, 3});
  CHECK(w->data() == nullptr);
  CHECK(pthsafe::tensor_sha256(*w).empty());
}

TEST_CASE("a checkpoint moves without invalidating its views") {
  auto ck = open("state_dict.pth", load_mode::mmap);
  REQUIRE(ck);
  const auto before = ck->find_tensor("0.weight");
  REQUIRE(before);
  const std::byte* data = before->data();
  pthsafe::checkpoint moved = std::move(*ck);
  auto after = moved.find_tensor("0.weight");
  REQUIRE(after);
  CHECK(after->data() == data);
  CHECK(before->data() == data);  // the view borrows from state that moved with the checkpoint
  pthsafe::checkpoint assigned = std::move(moved);
  CHECK(assigned.tensor_count() == 9);
}

TEST_CASE("open() of a missing file is io_open") {
  auto r = pthsafe::checkpoint::open(fixture("does_not_exist.pth"));
  CHECK(r.code() == errc::io_open);
  CHECK(pthsafe::classify(r.code()) == pthsafe::error_class::io);
  const auto rep = pthsafe::scan_file(fixture("does_not_exist.pth"));
  CHECK(rep.verdict == pthsafe::verdict::malformed);
}

TEST_CASE("open() and open_buffer() agree") {
  const std::string path = fixture("training_checkpoint.pth");
  auto a = pthsafe::checkpoint::open(path);
  REQUIRE(a);
  std::FILE* f = std::fopen(path.c_str(), "rb");
  REQUIRE(f != nullptr);
  std::vector<std::byte> buf(1 << 20);
  buf.resize(std::fread(buf.data(), 1, buf.size(), f));
  std::fclose(f);
  auto b = pthsafe::checkpoint::open_buffer(buf);
  REQUIRE(b);
  REQUIRE(a->tensor_count() == b->tensor_count());
  for (std::size_t i = 0; i < a->tensor_count(); ++i)
    CHECK(pthsafe::tensor_sha256(a->tensor(i)) == pthsafe::tensor_sha256(b->tensor(i)));
  CHECK(pthsafe::scan_file(path).verdict == pthsafe::verdict::safe);
  CHECK(pthsafe::scan_buffer(buf).verdict == pthsafe::verdict::safe);
}

#ifdef PTHSAFE_HAVE_XTENSOR

TEST_CASE("as_xtensor<float> reads exactly the stored elements") {
  for (auto mode : {load_mode::copy, load_mode::mmap}) {
    CAPTURE(static_cast<int>(mode));
    auto ck = open("state_dict.pth", mode);
    REQUIRE(ck);
    auto t = ck->find_tensor("0.weight");
    REQUIRE(t);
    auto x = pthsafe::as_xtensor<float>(*t);
    REQUIRE_MESSAGE(x, x.error_value().to_string());
    const auto& v = *x;
    REQUIRE(v.dimension() == 4);
    CHECK(v.shape()[0] == 3);
    CHECK(v.shape()[3] == 3);
    CHECK(v.size() == 54);
    std::size_t checked = 0;
    for (std::int64_t a = 0; a < 3; ++a)
      for (std::int64_t b = 0; b < 2; ++b)
        for (std::int64_t c = 0; c < 3; ++c)
          for (std::int64_t d = 0; d < 3; ++d) {
            const float raw = float_at(t->data(), a * 18 + b * 9 + c * 3 + d);
            CHECK(v(a, b, c, d) == raw);
            ++checked;
          }
    CHECK(checked == 54);
  }
}

TEST_CASE("as_xtensor follows strides and storage offsets") {
  using namespace pthsafe_test;
  // A (3, 2) view with strides (1, 3) at offset 2 of a 12-float storage: element (i, j) is
  // storage[2 + i + 3 j].
  tensor_spec t;
  t.key = "t";
  t.shape = {3, 2};
  t.stride = {1, 3};
  t.offset = 2;
  t.storage_numel = 12;
  const bytes file = torch_checkpoint(state_dict_pickle({t}), {{"0", float32_ramp(12)}}).build();
  for (auto mode : {load_mode::copy, load_mode::mmap}) {
    pthsafe::load_options o;
    o.mode = mode;
    auto ck = pthsafe::checkpoint::open_buffer(file, o);
    REQUIRE(ck);
    auto view = ck->find_tensor("t");
    REQUIRE(view);
    CHECK_FALSE(view->is_contiguous());
    auto x = pthsafe::as_xtensor<float>(*view);
    REQUIRE(x);
    for (std::size_t i = 0; i < 3; ++i)
      for (std::size_t j = 0; j < 2; ++j) CHECK((*x)(i, j) == 0.5f * static_cast<float>(2 + i + 3 * j));
  }
}

TEST_CASE("as_xtensor refuses the wrong element type and unloaded bytes") {
  auto ck = open("dtypes.pt", load_mode::copy);
  REQUIRE(ck);
  auto bf = ck->find_tensor("bfloat16");
  REQUIRE(bf);
  CHECK(bf->element_type() == dtype::bfloat16);
  CHECK(pthsafe::as_xtensor<float>(*bf).code() == errc::type_mismatch);
  CHECK(pthsafe::as_xtensor<std::uint16_t>(*bf).code() == errc::type_mismatch);
  auto ok = pthsafe::as_xtensor<pthsafe::bfloat16>(*bf);
  REQUIRE(ok);
  std::uint16_t bits;
  std::memcpy(&bits, bf->data() + 2 * 5, 2);
  CHECK((*ok)(1, 2).bits == bits);
  CHECK((*ok)(1, 2).to_float() == pthsafe::bfloat16{bits}.to_float());

  auto f32 = ck->find_tensor("float32");
  REQUIRE(f32);
  CHECK(pthsafe::as_xtensor<double>(*f32).code() == errc::type_mismatch);
  CHECK(pthsafe::as_xtensor<float>(*f32).has_value());

  auto meta = open("dtypes.pt", load_mode::metadata);
  REQUIRE(meta);
  auto m = meta->find_tensor("float32");
  REQUIRE(m);
  CHECK(pthsafe::as_xtensor<float>(*m).code() == errc::invalid_state);
}

#endif  // PTHSAFE_HAVE_XTENSOR

// ---- API behaviour on checkpoints built in memory ---------------------------------------------

namespace {
using namespace pthsafe_test;

bytes be_float32_ramp(std::size_t n) {
  bytes b = float32_ramp(n);
  for (std::size_t i = 0; i < b.size(); i += 4) std::swap(b[i], b[i + 3]), std::swap(b[i + 1], b[i + 2]);
  return b;
}
}  // namespace

TEST_CASE("a key containing '/' is found whole; shared storages are counted once") {
  tensor_spec a, b;
  a.key = "layer/weight";  // one key with a slash, not a path
  a.shape = {2, 3};
  b.key = "layer/weight_t";  // a transposed view of the same storage
  b.shape = {3, 2};
  b.stride = {1, 3};
  const bytes file = torch_checkpoint(state_dict_pickle({a, b}), {{"0", float32_ramp(6)}}).build();
  auto ck = pthsafe::checkpoint::open_buffer(file);
  REQUIRE_MESSAGE(ck, ck.error_value().to_string());
  auto w = ck->find_tensor("layer/weight");
  auto t = ck->find_tensor("layer/weight_t");
  REQUIRE(w);
  REQUIRE(t);
  CHECK(ck->tensor_count() == 2);
  CHECK(ck->storage_count() == 1);
  CHECK(ck->storage_bytes() == 24);
  CHECK(w->storage().bytes().data() == t->storage().bytes().data());
  CHECK(w->is_contiguous());
  CHECK_FALSE(t->is_contiguous());
  CHECK(ck->find_tensor("layer").code() == errc::not_found);
}

TEST_CASE("byteorder big: elements are swapped into a copy, never mapped") {
  tensor_spec t;
  t.key = "w";
  t.shape = {2, 3};
  auto z = torch_checkpoint(state_dict_pickle({t}), {{"0", be_float32_ramp(6)}});
  z.remove("archive/byteorder");
  z.add("archive/byteorder", "big");
  const bytes file = z.build();
  const bytes want = float32_ramp(6);
  for (auto mode : {load_mode::copy, load_mode::mmap}) {
    pthsafe::load_options o;
    o.mode = mode;
    auto ck = pthsafe::checkpoint::open_buffer(file, o);
    REQUIRE_MESSAGE(ck, ck.error_value().to_string());
    CHECK(ck->big_endian());
    auto w = ck->find_tensor("w");
    REQUIRE(w);
    CHECK_FALSE(w->storage().is_mapped());
    REQUIRE(w->data() != nullptr);
    CHECK(std::memcmp(w->data(), want.data(), want.size()) == 0);
  }
}

TEST_CASE("mmap mode maps stored records and inflates deflated ones into owned buffers") {
  tensor_spec a, b;
  a.key = "stored";
  a.storage_key = "0";
  a.shape = {4};
  b.key = "deflated";
  b.storage_key = "1";
  b.shape = {8};
  const bytes file =
      torch_checkpoint(state_dict_pickle({a, b}), {{"0", float32_ramp(4)}, {"1", float32_ramp(8), true}}).build();
  pthsafe::load_options o;
  o.mode = load_mode::mmap;
  auto ck = pthsafe::checkpoint::open_buffer(file, o);
  REQUIRE_MESSAGE(ck, ck.error_value().to_string());
  auto s = ck->find_tensor("stored");
  auto d = ck->find_tensor("deflated");
  REQUIRE(s);
  REQUIRE(d);
  CHECK(s->storage().is_mapped());
  CHECK(s->data() >= file.data());
  CHECK(s->data() < file.data() + file.size());  // zero-copy: points into the caller's buffer
  CHECK_FALSE(d->storage().is_mapped());
  CHECK(std::memcmp(d->data(), float32_ramp(8).data(), 32) == 0);
  CHECK(std::memcmp(s->data(), float32_ramp(4).data(), 16) == 0);
}
