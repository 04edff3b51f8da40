// Every misuse of the API that is not a compile error (tests/api/compile_fail) fails loudly: a
// result accessed on the wrong side throws bad_result_access, a call outside its documented
// precondition throws precondition_error whose what() names the rule. Never undefined behaviour
// (this file runs under ASan in the sanitized build too).
#include <doctest/doctest.h>

#include <string>
#include <utility>

#include "pthsafe/pthsafe.hpp"

using pthsafe::bad_result_access;
using pthsafe::checkpoint;
using pthsafe::errc;
using pthsafe::precondition_error;
using pthsafe::value_kind;

namespace {

checkpoint load(const char* name) {
  auto ck = checkpoint::open(std::string(PTHSAFE_FIXTURES) + "/" + name);
  REQUIRE_MESSAGE(ck, ck.error_value().to_string());
  return std::move(ck).value();
}

const pthsafe::value& at(const checkpoint& ck, const char* path) {
  auto v = ck.find(path);
  REQUIRE_MESSAGE(v, v.error_value().to_string());
  return *v.value();
}

pthsafe::tensor_view tensor_at(const checkpoint& ck, const char* path) {
  auto t = ck.find_tensor(path);
  REQUIRE_MESSAGE(t, t.error_value().to_string());
  return t.value();
}

// The exact what() of the precondition_error `expr` throws.
#define CHECK_RULE(expr, rule) CHECK_THROWS_WITH_AS((void)(expr), rule, precondition_error)

}  // namespace

TEST_CASE("result: value on an error and error on a value throw bad_result_access") {
  auto bad = checkpoint::open("/nonexistent/pthsafe-misuse.pt");
  REQUIRE_FALSE(bad);
  CHECK_THROWS_AS((void)bad.value(), bad_result_access);
  CHECK_THROWS_AS((void)bad->format(), bad_result_access);
  CHECK_THROWS_AS((void)(*bad).format(), bad_result_access);
  CHECK_THROWS_AS((void)std::move(bad).value(), bad_result_access);
  try {
    (void)bad.value();
    FAIL("value() of an error returned");
  } catch (const bad_result_access& e) {
    CHECK(e.error().code == errc::io_open);  // the error it held travels with the exception
    CHECK(std::string(e.what()).find("result::value(): requires has_value()") == 0);
    CHECK(std::string(e.what()).find("io_open") != std::string::npos);
  }
  const std::logic_error* base = nullptr;
  try {
    (void)bad.value();
  } catch (const std::logic_error& e) {
    base = &e;  // derives from std::logic_error: a programming error, not bad input
  }
  CHECK(base != nullptr);

  pthsafe::result<int> good = 7;
  CHECK(good.value() == 7);
  CHECK_THROWS_WITH_AS((void)good.error_value(), "result::error_value(): requires !has_value()", bad_result_access);
  CHECK_THROWS_AS((void)std::move(good).error_value(), bad_result_access);

  pthsafe::result<void> ok;
  CHECK_NOTHROW(ok.value());
  CHECK_THROWS_AS((void)ok.error_value(), bad_result_access);
  pthsafe::result<void> failed = pthsafe::make_error(errc::not_found, "x");
  CHECK_THROWS_AS(failed.value(), bad_result_access);
  CHECK(failed.error_value().code == errc::not_found);
}

TEST_CASE("result<T>: copies, moves and assignments keep each side's value or error") {
  using R = pthsafe::result<std::string>;
  const std::string long_text(100, 'v');  // beyond the small-string buffer: a real heap move
  R v = long_text;
  R e = pthsafe::make_error(errc::not_found, "missing", "rec", 7);
  // Copies.
  R v2 = v;
  R e2 = e;
  REQUIRE(v2);
  CHECK(*v2 == long_text);
  CHECK(*v == long_text);
  REQUIRE_FALSE(e2);
  CHECK(e2.error_value().code == errc::not_found);
  CHECK(e2.error_value().offset == 7);
  CHECK(e.code() == errc::not_found);
  // Moves: the source keeps its side (a moved-from value or error), never a broken state.
  R v3 = std::move(v2);
  R e3 = std::move(e2);
  CHECK(*v3 == long_text);
  CHECK(e3.error_value().record == "rec");
  CHECK(v2.has_value());        // NOLINT(bugprone-use-after-move): the state a move leaves
  CHECK_FALSE(e2.has_value());  // NOLINT(bugprone-use-after-move)
  CHECK(e2.code() == errc::not_found);
  CHECK_NOTHROW((void)e2.error_value());
  // Assignments across sides, both ways, copy and move, and onto itself.
  R a = long_text;
  a = e;
  REQUIRE_FALSE(a);
  CHECK(a.error_value().message == "missing");
  a = v;
  REQUIRE(a);
  CHECK(*a == long_text);
  a = std::move(e3);
  CHECK(a.code() == errc::not_found);
  a = std::move(v3);
  CHECK(*a == long_text);
  const R& same = a;
  a = same;
  CHECK(*a == long_text);
  // value() && moves the T out.
  R m = long_text;
  const std::string out = std::move(m).value();
  CHECK(out == long_text);
}

TEST_CASE("checkpoint: tensor(i) and storage(i) out of range") {
  const checkpoint ck = load("state_dict.pth");
  REQUIRE(ck.tensor_count() == 9);
  CHECK_NOTHROW((void)ck.tensor(8));
  CHECK_RULE(ck.tensor(9), "checkpoint::tensor(i): requires i < tensor_count()");
  CHECK_RULE(ck.tensor(static_cast<std::size_t>(-1)), "checkpoint::tensor(i): requires i < tensor_count()");
  CHECK_NOTHROW((void)ck.storage(ck.storage_count() - 1));
  CHECK_RULE(ck.storage(ck.storage_count()), "checkpoint::storage(i): requires i < storage_count()");
}

TEST_CASE("checkpoint: every use of a moved-from checkpoint") {
  checkpoint ck = load("state_dict.pth");
  checkpoint taken = std::move(ck);
  CHECK(taken.tensor_count() == 9);  // the new owner works
  const char* rule = "checkpoint: used after move (a moved-from checkpoint may only be assigned or destroyed)";
  CHECK_RULE(ck.root(), rule);
  CHECK_RULE(ck.constants(), rule);
  CHECK_RULE(ck.format(), rule);
  CHECK_RULE(ck.big_endian(), rule);
  CHECK_RULE(ck.archive_name(), rule);
  CHECK_RULE(ck.mode(), rule);
  CHECK_RULE(ck.tensor_count(), rule);
  CHECK_RULE(ck.tensor(0), rule);
  CHECK_RULE(ck.storage_count(), rule);
  CHECK_RULE(ck.storage(0), rule);
  CHECK_RULE(ck.storage_bytes(), rule);
  CHECK_RULE(ck.find("0.weight"), rule);
  CHECK_RULE(ck.find_tensor("0.weight"), rule);
  CHECK_RULE(ck.walk_budget(), rule);
  CHECK_RULE(ck.output_budget(), rule);
  CHECK_RULE(ck.warnings(), rule);
  ck = std::move(taken);  // assigning gives it a state again
  CHECK(ck.tensor_count() == 9);
}

TEST_CASE("value: kind-specific accessors on another kind") {
  const checkpoint ck = load("python_values.pt");
  const auto& dict = at(ck, "nested");
  REQUIRE(dict.kind() == value_kind::dict);
  CHECK_RULE(dict.as_tensor(), "value::as_tensor(): requires kind() == tensor");
  CHECK_RULE(dict.as_bool(), "value::as_bool(): requires kind() == boolean");
  CHECK_RULE(dict.as_int64(), "value::as_int64(): requires fits_int64()");
  CHECK_RULE(dict.as_double(), "value::as_double(): requires kind() == floating or complex");
  CHECK_RULE(dict.as_complex(), "value::as_complex(): requires kind() == complex or floating");
  CHECK_RULE(dict.as_dtype(), "value::as_dtype(): requires kind() == dtype");
  CHECK_RULE(dict.int_decimal(), "value::int_decimal(): requires kind() == integer");
  CHECK_NOTHROW((void)dict.items());  // container accessors are defined on every kind (empty)
  CHECK_NOTHROW((void)dict.text());

  const auto& big = at(ck, "ints/11");  // 9223372036854775808: an int beyond int64
  REQUIRE(big.kind() == value_kind::integer);
  CHECK_FALSE(big.fits_int64());
  CHECK_RULE(big.as_int64(), "value::as_int64(): requires fits_int64()");
  CHECK(big.int_decimal() == "9223372036854775808");
  CHECK(at(ck, "ints/10").as_int64() == 9223372036854775807);

  CHECK(at(ck, "true").as_bool());
  CHECK_RULE(at(ck, "true").as_int64(), "value::as_int64(): requires fits_int64()");
  CHECK_RULE(at(ck, "ints/1").as_bool(), "value::as_bool(): requires kind() == boolean");
  CHECK_RULE(at(ck, "none").as_double(), "value::as_double(): requires kind() == floating or complex");
  CHECK_NOTHROW((void)at(ck, "complex").as_complex());
  CHECK_NOTHROW((void)at(ck, "complex").as_double());
  CHECK_RULE(at(ck, "dtypes/0").as_tensor(), "value::as_tensor(): requires kind() == tensor");
  CHECK_NOTHROW((void)at(ck, "dtypes/0").as_dtype());
}

TEST_CASE("tensor_view: storage() without has_storage()") {
  const checkpoint meta = load("meta.pt");
  const auto t = tensor_at(meta, "meta");
  REQUIRE_FALSE(t.has_storage());
  CHECK_RULE(t.storage(), "tensor_view::storage(): requires has_storage()");
  CHECK(t.data() == nullptr);  // data() has no precondition

  const checkpoint sparse = load("sparse.pt");
  const auto coo = tensor_at(sparse, "coo");
  REQUIRE_FALSE(coo.has_storage());
  CHECK_RULE(coo.storage(), "tensor_view::storage(): requires has_storage()");
}

TEST_CASE("tensor_view: sparse accessors on a dense tensor, plain indices on COO") {
  const checkpoint dense_ck = load("state_dict.pth");
  const auto dense = tensor_at(dense_ck, "0.weight");
  REQUIRE_FALSE(dense.is_sparse());
  CHECK_RULE(dense.sparse_indices(), "tensor_view::sparse_indices(): requires is_sparse()");
  CHECK_RULE(dense.sparse_values(), "tensor_view::sparse_values(): requires is_sparse()");
  CHECK_RULE(dense.sparse_plain_indices(),
             "tensor_view::sparse_plain_indices(): requires a compressed layout (sparse_csr, sparse_csc, sparse_bsr, sparse_bsc)");
  CHECK_RULE(dense.sparse_coalesced(), "tensor_view::sparse_coalesced(): requires layout() == sparse_coo");

  const checkpoint ck = load("sparse.pt");
  const auto coo = tensor_at(ck, "coo");
  CHECK(coo.sparse_indices().shape().size() == 2);
  CHECK(coo.sparse_values().numel() == 4);
  CHECK(coo.sparse_coalesced() == 0);
  CHECK_RULE(coo.sparse_plain_indices(),
             "tensor_view::sparse_plain_indices(): requires a compressed layout (sparse_csr, sparse_csc, sparse_bsr, sparse_bsc)");
  const auto csr = tensor_at(ck, "csr");
  CHECK_NOTHROW((void)csr.sparse_plain_indices());
  CHECK_RULE(csr.sparse_coalesced(), "tensor_view::sparse_coalesced(): requires layout() == sparse_coo");
}

TEST_CASE("tensor_view: q_* on an unquantized or wrong-scheme tensor") {
  const checkpoint dense_ck = load("state_dict.pth");
  const auto dense = tensor_at(dense_ck, "0.weight");
  CHECK_RULE(dense.q_scale(), "tensor_view::q_scale(): requires qscheme() == per_tensor_affine");
  CHECK_RULE(dense.q_zero_point(), "tensor_view::q_zero_point(): requires qscheme() == per_tensor_affine");
  CHECK_RULE(dense.q_axis(), "tensor_view::q_axis(): requires a per-channel qscheme()");
  CHECK_RULE(dense.q_per_channel_scales(), "tensor_view::q_per_channel_scales(): requires a per-channel qscheme()");
  CHECK_RULE(dense.q_per_channel_zero_points(), "tensor_view::q_per_channel_zero_points(): requires a per-channel qscheme()");

  const checkpoint ck = load("quantized.pt");
  const auto per_tensor = tensor_at(ck, "per_tensor_quint8");
  CHECK(per_tensor.q_zero_point() == 7);
  CHECK_RULE(per_tensor.q_axis(), "tensor_view::q_axis(): requires a per-channel qscheme()");
  CHECK_RULE(per_tensor.q_per_channel_scales(), "tensor_view::q_per_channel_scales(): requires a per-channel qscheme()");
  const auto per_channel = tensor_at(ck, "per_channel_axis1");
  CHECK(per_channel.q_axis() == 1);
  CHECK_NOTHROW((void)per_channel.q_per_channel_zero_points());
  CHECK_RULE(per_channel.q_scale(), "tensor_view::q_scale(): requires qscheme() == per_tensor_affine");
  CHECK_RULE(per_channel.q_zero_point(), "tensor_view::q_zero_point(): requires qscheme() == per_tensor_affine");
  const auto float_q = tensor_at(ck, "float_qparams");
  CHECK(float_q.qscheme() == pthsafe::quant_scheme::per_channel_affine_float_qparams);
  CHECK_NOTHROW((void)float_q.q_per_channel_scales());
}
