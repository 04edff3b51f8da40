// The formats of issue 4 through the public API, on files torch wrote (tests/fixtures; their
// inspect JSON is compared with torch's view by the fixture tests): legacy streams and their
// storage views, big-endian files, quantized, sparse, meta, wrapper-subclass and device tensors,
// TorchScript archives; and corruptions of those files that must be refused with exact codes.
#include <doctest/doctest.h>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "pthsafe/report.hpp"
#include "pthsafe/pthsafe.hpp"

using pthsafe::container_format;
using pthsafe::dtype;
using pthsafe::errc;
using pthsafe::load_mode;
using pthsafe::quant_scheme;
using pthsafe::tensor_layout;

namespace {

std::string fixture(const char* name) { return std::string(PTHSAFE_FIXTURES) + "/" + name; }

std::vector<std::byte> read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::vector<char> c((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  std::vector<std::byte> b(c.size());
  std::memcpy(b.data(), c.data(), c.size());
  return b;
}

pthsafe::load_options with_mode(load_mode m) {
  pthsafe::load_options o;
  o.mode = m;
  return o;
}

const load_mode all_modes[] = {load_mode::copy, load_mode::mmap, load_mode::metadata};

// Every mode must refuse a corrupt buffer with `want`, and a scan must not call it safe.
void check_refused(const std::vector<std::byte>& file, errc want) {
  for (auto m : all_modes) {
    CAPTURE(static_cast<int>(m));
    auto ck = pthsafe::checkpoint::open_buffer(file, with_mode(m));
    CHECK(ck.code() == want);
  }
  const auto rep = pthsafe::scan_buffer(file);
  CHECK(rep.verdict != pthsafe::verdict::safe);
  REQUIRE_FALSE(rep.findings.empty());
  CHECK(rep.findings.front().rule == pthsafe::errc_name(want));
}

std::uint64_t le64(const std::byte* p) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= std::uint64_t(static_cast<unsigned char>(p[i])) << (8 * i);
  return v;
}

}  // namespace

TEST_CASE("legacy stream: read in every mode, views resolved, keys are torch's") {
  for (auto m : all_modes) {
    CAPTURE(static_cast<int>(m));
    auto ck = pthsafe::checkpoint::open(fixture("legacy.pt"), with_mode(m));
    REQUIRE_MESSAGE(ck, ck.error_value().to_string());
    CHECK(ck->format() == container_format::legacy);
    CHECK(ck->archive_name().empty());
    CHECK_FALSE(ck->big_endian());
    auto base = ck->find_tensor("base");
    auto rows = ck->find_tensor("rows");
    REQUIRE(base);
    REQUIRE(rows);
    CHECK(base->storage().key() == rows->storage().key());  // one storage, read once
    CHECK(rows->storage_offset() == 6);
    if (m != load_mode::metadata) CHECK(rows->data() == base->data() + 6 * 4);
    else CHECK(rows->data() == nullptr);
  }
}

TEST_CASE("legacy stream: mmap maps aligned storages and copies the others, or refuses on request") {
  auto ck = pthsafe::checkpoint::open(fixture("legacy.pt"), with_mode(load_mode::mmap));
  REQUIRE(ck);
  bool some_copied = false;
  for (std::size_t i = 0; i < ck->storage_count(); ++i) {
    const auto s = ck->storage(i);
    if (!s.is_mapped()) some_copied = true;
    CHECK(reinterpret_cast<std::uintptr_t>(s.bytes().data()) % pthsafe::itemsize(s.element_type()) == 0);
  }
  auto o = with_mode(load_mode::mmap);
  o.refuse_copy_in_mmap = true;
  auto strict = pthsafe::checkpoint::open(fixture("legacy.pt"), o);
  CHECK(strict.code() == (some_copied ? errc::mmap_copy_refused : errc::ok));
}

TEST_CASE("legacy view_metadata: views point into their root's bytes") {
  for (auto m : {load_mode::copy, load_mode::mmap}) {
    auto ck = pthsafe::checkpoint::open(fixture("legacy_storage_views.pt"), with_mode(m));
    REQUIRE_MESSAGE(ck, ck.error_value().to_string());
    auto root = ck->find_tensor("root");
    auto a = ck->find_tensor("view_a");
    auto b = ck->find_tensor("view_b");
    REQUIRE((root && a && b));
    CHECK(a->storage().key() != root->storage().key());
    CHECK(a->storage().nbytes() == 12 * 4);
    CHECK(a->data() == root->data() + 8 * 4);
    CHECK(b->data() == root->data() + (20 + 1) * 4);
    CHECK(a->storage().is_mapped() == root->storage().is_mapped());
  }
}

TEST_CASE("legacy stream: corruptions are refused with exact codes") {
  const auto good = read_file(fixture("legacy.pt"));
  REQUIRE(pthsafe::checkpoint::open_buffer(good));
  SUBCASE("protocol version other than 1001") {
    auto f = good;
    REQUIRE(static_cast<unsigned char>(f[15 + 3]) == 0xe9);  // after the 15-byte magic pickle: \x80\x02M\xe9\x03.
    f[15 + 3] = std::byte{0xea};
    check_refused(f, errc::legacy_bad_header);
  }
  SUBCASE("a byte after the last storage") {
    auto f = good;
    f.push_back(std::byte{0});
    check_refused(f, errc::legacy_bad_storage_list);
  }
  SUBCASE("file ends inside the last storage") {
    auto f = good;
    REQUIRE(f.size() > 1);
    f.resize(f.size() - 1);
    check_refused(f, errc::legacy_bad_storage_list);
  }
  SUBCASE("size prefix disagrees with the persistent id") {
    // The storages fill the end of the file: sum(8 + nbytes) bytes, first key's prefix first.
    auto ck = pthsafe::checkpoint::open_buffer(good, with_mode(load_mode::metadata));
    REQUIRE(ck);
    std::uint64_t region = 0;
    for (std::size_t i = 0; i < ck->storage_count(); ++i) region += 8 + ck->storage(i).nbytes();
    auto f = good;
    std::byte* prefix = f.data() + f.size() - region;
    const std::uint64_t n = le64(prefix);
    CHECK(n < 1000);
    prefix[0] = static_cast<std::byte>(static_cast<unsigned char>(prefix[0]) + 1);
    check_refused(f, errc::storage_size_mismatch);
  }
}

TEST_CASE("big-endian file: swapped into little-endian values, never mapped") {
  auto copy = pthsafe::checkpoint::open(fixture("big_endian.pt"));
  auto mm = pthsafe::checkpoint::open(fixture("big_endian.pt"), with_mode(load_mode::mmap));
  REQUIRE((copy && mm));
  CHECK(copy->big_endian());
  auto a = copy->find_tensor("float64");
  auto b = mm->find_tensor("float64");
  REQUIRE((a && b));
  CHECK(std::memcmp(a->data(), b->data(), a->nbytes()) == 0);
  CHECK(pthsafe::tensor_sha256(*a) == pthsafe::tensor_sha256(*b));
  for (std::size_t i = 0; i < mm->storage_count(); ++i) CHECK_FALSE(mm->storage(i).is_mapped());
  auto o = with_mode(load_mode::mmap);
  o.refuse_copy_in_mmap = true;
  auto strict = pthsafe::checkpoint::open(fixture("big_endian.pt"), o);
  CHECK(strict.code() == errc::mmap_copy_refused);
  CHECK(pthsafe::classify(errc::mmap_copy_refused) == pthsafe::error_class::usage);
  // A little-endian torch file maps entirely: the option changes nothing there.
  auto le = pthsafe::checkpoint::open(fixture("state_dict.pth"), o);
  CHECK(le);
}

TEST_CASE("quantized tensors: scheme, parameters, integer representation") {
  auto ck = pthsafe::checkpoint::open(fixture("quantized.pt"));
  REQUIRE_MESSAGE(ck, ck.error_value().to_string());
  auto pt = ck->find_tensor("per_tensor_quint8");
  REQUIRE(pt);
  CHECK(pt->is_quantized());
  CHECK(pt->element_type() == dtype::quint8);
  CHECK(pt->qscheme() == quant_scheme::per_tensor_affine);
  CHECK(pt->q_scale() == doctest::Approx(0.05));
  CHECK(pt->q_zero_point() == 7);
  auto pc = ck->find_tensor("per_channel_axis0");
  REQUIRE(pc);
  CHECK(pc->qscheme() == quant_scheme::per_channel_affine);
  CHECK(pc->q_axis() == 0);
  CHECK(pc->q_per_channel_scales().numel() == 3);
  CHECK(pc->q_per_channel_scales().element_type() == dtype::float64);
  CHECK(pc->q_per_channel_zero_points().element_type() == dtype::int64);
  auto fq = ck->find_tensor("float_qparams");
  REQUIRE(fq);
  CHECK(fq->qscheme() == quant_scheme::per_channel_affine_float_qparams);
  auto q4 = ck->find_tensor("quint4x2");
  REQUIRE(q4);
  CHECK(q4->numel() == 12);
  CHECK(q4->nbytes() == 6);  // two values per byte
  auto lists = ck->find_tensor("per_channel_lists");
  REQUIRE(lists);
  CHECK(lists->q_per_channel_scales().numel() == 4);  // built from the list, as torch.tensor() would
  auto plain = pthsafe::checkpoint::open(fixture("state_dict.pth"));
  REQUIRE(plain);
  CHECK(plain->tensor(0).qscheme() == quant_scheme::none);
  CHECK(pthsafe::quant_scheme_name(quant_scheme::per_channel_affine_float_qparams) == "per_channel_affine_float_qparams");
}

// Red team B §1: torch's quantizer holds scales.to(kDouble) and zero_points.to(kLong), so a neg
// bit is applied and a bool is 0/1. The files are the hostile corpus's (tests/hostile/gen_hostile.py
// asserts torch's values when it writes them).
std::string hostile(const char* name) { return std::string(PTHSAFE_FIXTURES) + "/../hostile/files/" + name; }

TEST_CASE("quantized per-channel parameters are the values torch's quantizer holds") {
  auto neg = pthsafe::checkpoint::open(hostile("qtensor_neg_scales.pt"));
  REQUIRE_MESSAGE(neg, neg.error_value().to_string());
  auto json = pthsafe::inspect_json(*neg);
  REQUIRE(json);
  CHECK(json->find("\"q_scales\":[-0.25,-0.5]") != std::string::npos);
  CHECK(json->find("\"q_zero_points\":[1,2]") != std::string::npos);
  auto bz = pthsafe::checkpoint::open(hostile("qtensor_bool_zp.pt"));
  REQUIRE_MESSAGE(bz, bz.error_value().to_string());
  json = pthsafe::inspect_json(*bz);
  REQUIRE(json);
  CHECK(json->find("\"q_scales\":[0.25,0.5]") != std::string::npos);
  CHECK(json->find("\"q_zero_points\":[1,1]") != std::string::npos);
}

TEST_CASE("_rebuild_from_type_v2 with a data state on torch.Tensor: torch 2.x's tensor, and a scan warning") {
  auto ck = pthsafe::checkpoint::open(hostile("from_type_v2_data.pt"));
  REQUIRE_MESSAGE(ck, ck.error_value().to_string());
  auto w = ck->find_tensor("w");
  REQUIRE(w);
  float v[4];
  REQUIRE(w->numel() == 4);
  REQUIRE(w->data());
  std::memcpy(v, w->data(), sizeof v);
  CHECK(v[0] == 666.0f);
  CHECK(v[3] == 666.0f);
  const auto rep = pthsafe::scan_file(hostile("from_type_v2_data.pt"));
  CHECK(rep.verdict == pthsafe::verdict::safe);
  bool warned = false;
  for (const auto& f : rep.findings) warned |= f.rule == "tensor_state_version_dependent";
  CHECK(warned);
  // A Parameter-typed state swap is torch 2.x and 1.13 alike: no warning.
  const auto swap = pthsafe::scan_file(hostile("state_data_swap.pt"));
  for (const auto& f : swap.findings) CHECK(f.rule != "tensor_state_version_dependent");
}

TEST_CASE("sparse tensors: layouts and components") {
  for (auto m : all_modes) {
    auto ck = pthsafe::checkpoint::open(fixture("sparse.pt"), with_mode(m));
    REQUIRE_MESSAGE(ck, ck.error_value().to_string());
    auto coo = ck->find_tensor("coo");
    REQUIRE(coo);
    CHECK(coo->is_sparse());
    CHECK(coo->layout() == tensor_layout::sparse_coo);
    CHECK_FALSE(coo->has_storage());
    CHECK(coo->sparse_coalesced() == 0);
    CHECK(coo->sparse_indices().element_type() == dtype::int64);
    CHECK(coo->sparse_indices().shape()[1] == coo->sparse_values().shape()[0]);
    auto bsr = ck->find_tensor("bsr");
    REQUIRE(bsr);
    CHECK(bsr->layout() == tensor_layout::sparse_bsr);
    CHECK(pthsafe::layout_name(bsr->layout()) == "sparse_bsr");
    CHECK(bsr->sparse_values().ndim() == 3);
    auto csc = ck->find_tensor("csc");
    REQUIRE(csc);
    CHECK(csc->sparse_plain_indices().numel() == csc->sparse_values().numel());
  }
}

TEST_CASE("sparse tensors: an index edited out of range is refused in every mode, scan included") {
  auto f = read_file(fixture("sparse.pt"));
  std::size_t off = 0;
  {
    auto ck = pthsafe::checkpoint::open_buffer(f, with_mode(load_mode::mmap));
    REQUIRE(ck);
    auto idx = ck->find_tensor("coo_coalesced");
    REQUIRE(idx);
    const auto ind = idx->sparse_indices();
    REQUIRE(ind.storage().is_mapped());  // a pointer into `f`: its offset is the record's
    off = static_cast<std::size_t>(ind.data() - f.data());
  }
  const std::int64_t bad = 1000;
  std::memcpy(f.data() + off, &bad, 8);
  check_refused(f, errc::sparse_invalid);
}

TEST_CASE("tensors without data: meta, wrapper subclass, device-from-CPU") {
  auto meta = pthsafe::checkpoint::open(fixture("meta.pt"));
  REQUIRE(meta);
  auto t = meta->find_tensor("meta_t");
  REQUIRE(t);
  CHECK(t->device() == "meta");
  CHECK_FALSE(t->has_storage());
  CHECK(t->data() == nullptr);
  CHECK(t->strides()[0] == 1);

  CHECK(pthsafe::checkpoint::open(fixture("wrapper_subclass.pt")).code() == errc::pickle_global_refused);
  pthsafe::load_options o;
  o.allowed_globals.push_back("fixture_classes.NoDataTensor");
  auto w = pthsafe::checkpoint::open(fixture("wrapper_subclass.pt"), o);
  REQUIRE_MESSAGE(w, w.error_value().to_string());
  auto wt = w->find_tensor("wrapper_strided_attrs");
  REQUIRE(wt);
  CHECK(wt->subclass() == "fixture_classes.NoDataTensor");
  CHECK_FALSE(wt->has_storage());
  CHECK(wt->element_type() == dtype::float16);

  auto d = pthsafe::checkpoint::open(fixture("device_from_cpu.pt"));
  REQUIRE(d);
  auto x = d->find_tensor("xla");
  REQUIRE(x);
  CHECK(x->device() == "xla:0");
  CHECK(x->has_storage());
  CHECK(x->storage().nbytes() == 6 * 4);
}

TEST_CASE("TorchScript: refused by default, tensors on request, constants, scan unsafe") {
  CHECK(pthsafe::checkpoint::open(fixture("torchscript.pt")).code() == errc::torchscript_archive);
  pthsafe::load_options o;
  o.allow_torchscript = true;
  auto ck = pthsafe::checkpoint::open(fixture("torchscript.pt"), o);
  REQUIRE_MESSAGE(ck, ck.error_value().to_string());
  CHECK(ck->format() == container_format::torchscript);
  CHECK(ck->root().kind() == pthsafe::value_kind::object);
  CHECK(ck->root().text() == "__torch__._ScriptedModule");
  auto f8 = ck->find_tensor("f8");  // key paths go through an object's state
  CHECK(ck->find_tensor("lin/weight"));
  REQUIRE_MESSAGE(f8, f8.error_value().to_string());
  CHECK(f8->element_type() == dtype::float8_e4m3fn);
  REQUIRE(ck->constants() != nullptr);

  auto traced = pthsafe::checkpoint::open(fixture("torchscript_traced.pt"), o);
  REQUIRE(traced);
  const pthsafe::value* c = traced->constants();
  REQUIRE(c);
  REQUIRE(c->items().size() >= 1);
  REQUIRE(c->items()[0]->kind() == pthsafe::value_kind::tensor);
  CHECK(c->items()[0]->as_tensor().storage().key().substr(0, 10) == "constants/");

  auto rep = pthsafe::scan_file(fixture("torchscript.pt"), o);  // the option never relaxes a scan
  CHECK(rep.verdict == pthsafe::verdict::unsafe);
}
