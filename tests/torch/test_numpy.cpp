// TorchVersion, numpy scalars and arrays decoded from real torch/numpy fixtures (docs/policy.md
// "Beyond torch's allowlist"): values, warnings, and refusal under strict_torch.
#include <doctest/doctest.h>

#include <cstring>
#include <string>

#include "pthsafe/pthsafe.hpp"

using namespace pthsafe;

namespace {

std::string fixture(const char* name) { return std::string(PTHSAFE_FIXTURES) + "/" + name; }

}  // namespace

TEST_CASE("last.pth (torch 1.13 + numpy 1.x, torch 2.x + numpy 2.x): values, warnings, strict refusal") {
  for (const char* name : {"last.pth", "t113_last.pth"}) {
    auto ck = checkpoint::open(fixture(name));
    REQUIRE_MESSAGE(ck.has_value(), name);
    const value* version = ck->find("pytorch_version").value();
    CHECK(version->kind() == value_kind::string);
    CHECK(version->is_torch_version());
    CHECK(!ck->find("metrics/best_acc").value()->numpy_dtype().has_value());
    const value* loss = ck->find("metrics/val_loss").value();
    CHECK(loss->kind() == value_kind::floating);
    CHECK(loss->as_double() == 0.25);
    CHECK(loss->numpy_dtype() == dtype::float32);
    const value* step = ck->find("metrics/step").value();
    CHECK(step->as_int64() == 1234);
    CHECK(step->numpy_dtype() == dtype::int64);
    const value* hist = ck->find("metrics/history").value();
    REQUIRE(hist->kind() == value_kind::ndarray);
    CHECK(hist->numpy_dtype() == dtype::float32);
    REQUIRE(hist->items().size() == 1);
    CHECK(hist->items()[0]->as_int64() == 3);
    const float want[3] = {0.5f, 0.375f, 0.25f};
    REQUIRE(hist->text().size() == sizeof want);
    CHECK(std::memcmp(hist->text().data(), want, sizeof want) == 0);
    bool warned = false;
    for (const auto& w : ck->warnings()) warned |= w.find("beyond torch's allowlist") != std::string::npos;
    CHECK(warned);

    load_options strict;
    strict.strict_torch = true;
    CHECK(checkpoint::open(fixture(name), strict).code() == errc::pickle_global_not_torch);
  }
}

TEST_CASE("numpy.pt: Fortran order and big-endian arrays come out C order, little-endian") {
  for (const char* name : {"numpy.pt", "t113_numpy.pt"}) {
    auto ck = checkpoint::open(fixture(name));
    REQUIRE_MESSAGE(ck.has_value(), name);
    const value* c = ck->find("arrays/int32").value();
    for (const char* other : {"arrays/int32_fortran", "arrays/int32_big_endian", "arrays/int32_big_endian_fortran"}) {
      const value* o = ck->find(other).value();
      REQUIRE(o->kind() == value_kind::ndarray);
      CHECK_MESSAGE(o->text() == c->text(), other);
    }
    const value* f3 = ck->find("arrays/fortran_3d").value();
    REQUIRE(f3->text().size() == 24 * 8);
    for (int i = 0; i < 24; ++i) {  // np.arange(24).reshape(2, 3, 4): C order is 0..23
      double x;
      std::memcpy(&x, f3->text().data() + i * 8, 8);
      CHECK(x == i);
    }
    CHECK(ck->find("scalars/uint64_max").value()->int_decimal() == "18446744073709551615");
    CHECK(ck->find("scalars/int64_min").value()->as_int64() == INT64_MIN);
    CHECK(ck->find("scalars/complex64_neg").value()->as_complex() == std::complex<double>(-1.5, 2.25));
    CHECK(ck->find("arrays/zero_d").value()->items().empty());
  }
}
