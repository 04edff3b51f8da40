// match_state_dict on hand-built references over real torch fixtures, reference_from_manifest's
// schema, and load_into's copies and conversions against torch's own (conversions.pth).
#include <doctest/doctest.h>

#include <cstring>
#include <string>
#include <vector>

#include "pthsafe/match.hpp"
#include "pthsafe/pthsafe.hpp"

using namespace pthsafe;

namespace {

std::string fixture(const std::string& name) { return std::string(PTHSAFE_FIXTURES) + "/match/" + name; }

checkpoint open_fixture(const std::string& name, load_mode mode = load_mode::copy) {
  load_options o;
  o.mode = mode;
  auto ck = checkpoint::open(fixture(name), o);
  REQUIRE_MESSAGE(ck.has_value(), name);
  return std::move(ck).value();
}

}  // namespace

TEST_CASE("match: a manifest reference, torch's order and the 0-d rule") {
  const checkpoint ck = open_fixture("unexpected_order/ckpt.pth", load_mode::metadata);
  auto sd = find_state_dict(ck);
  REQUIRE(sd.has_value());
  auto ref = reference_from_manifest(R"({"a.0.weight": {"dtype": "float32", "shape": [2, 2]},
      "a.0.bias": {"dtype": "float32", "shape": [2]}, "a.1.0.weight": {"dtype": "float32", "shape": [2, 2]},
      "a.1.0.bias": {"dtype": "float64", "shape": [2]}, "b.weight": {"dtype": "float32", "shape": [3, 2]},
      "b.bias": {"dtype": "float32", "shape": [2]}, "top": {"dtype": "float32", "shape": []}})");
  REQUIRE(ref.has_value());
  const match_report r = match_state_dict(*sd, *ref);
  CHECK(r.missing_keys == std::vector<std::string>{"a.0.bias"});
  // root first (file order), then a, a.1, a.1.0, b: "top" is now expected (0-d from [1]).
  CHECK(r.unexpected_keys == std::vector<std::string>{"zz.top", "a.stray", "a.1.stray.deeper", "a.1.0.stray", "b.stray"});
  REQUIRE(r.size_mismatches.size() == 1);
  CHECK(r.size_mismatches[0].key == "b.weight");
  CHECK(r.size_mismatches[0].checkpoint == std::vector<std::int64_t>{2, 2});
  CHECK(r.size_mismatches[0].expected == std::vector<std::int64_t>{3, 2});
  REQUIRE(r.dtype_mismatches.size() == 1);
  CHECK(r.dtype_mismatches[0].key == "a.1.0.bias");
  CHECK(r.dtype_mismatches[0].expected == dtype::float64);
  CHECK_FALSE(r.ok());
  match_options loose;
  loose.strict = false;
  CHECK_FALSE(match_state_dict(*sd, *ref, loose).ok());  // size mismatches fail either way
}

TEST_CASE("match: the manifest schema") {
  CHECK(reference_from_manifest("[]").code() == errc::manifest_invalid);
  CHECK(reference_from_manifest(R"({"a": 1})").code() == errc::manifest_invalid);
  CHECK(reference_from_manifest(R"({"a": {"dtype": "float32"}})").code() == errc::manifest_invalid);
  CHECK(reference_from_manifest(R"({"a": {"dtype": "float99", "shape": []}})").code() == errc::manifest_invalid);
  CHECK(reference_from_manifest(R"({"a": {"dtype": "float32", "shape": [-1]}})").code() == errc::manifest_invalid);
  CHECK(reference_from_manifest(R"({"a": {"dtype": "float32", "shape": [1.0]}})").code() == errc::manifest_invalid);
  CHECK(reference_from_manifest(R"({"a": {"dtype": "float32", "shape": [], "x": 1}})").code() == errc::manifest_invalid);
  CHECK(reference_from_manifest(R"({"a": {"dtype": "float32", "shape": []}, "a": {"dtype": "float32", "shape": []}})").code() ==
        errc::json_duplicate_key);
  auto ok = reference_from_manifest(R"({"z": {"shape": [1, 2], "dtype": "bfloat16"}, "a": {"dtype": "bool", "shape": []}})");
  REQUIRE(ok.has_value());
  REQUIRE(ok->entries.size() == 2);
  CHECK(ok->entries[0].name == "z");
  CHECK(ok->entries[0].type == dtype::bfloat16);
  CHECK(ok->entries[1].type == dtype::boolean);
}

TEST_CASE("match: an empty reference makes every key unexpected, an empty checkpoint dict is not a state_dict") {
  const checkpoint ck = open_fixture("identical/ckpt.pth", load_mode::metadata);
  auto sd = find_state_dict(ck);
  REQUIRE(sd.has_value());
  const match_report r = match_state_dict(*sd, reference{});
  CHECK(r.unexpected_keys.size() == sd->entries.size());
  CHECK(r.missing_keys.empty());
  CHECK(reference_from_state_dict(*sd).entries.size() == sd->entries.size());
}

TEST_CASE("match: the checkpoint's _metadata versions are read, with the prefix stripped") {
  const checkpoint ck = open_fixture("module_prefix_stripped/ckpt.pth", load_mode::metadata);
  state_dict_options o;
  o.strip_prefix = "module.";
  auto sd = find_state_dict(ck, o);
  REQUIRE(sd.has_value());
  CHECK(sd->has_metadata);
  bool root = false, bn = false;
  for (const auto& [k, v] : sd->versions) {
    if (k.empty()) root = true;
    if (k == "bn") bn = (v == 2);
    CHECK(k.rfind("module", 0) != 0);
  }
  CHECK(root);
  CHECK(bn);
}

namespace {

std::vector<std::byte> bytes_of(const tensor_view& t) {
  std::vector<std::byte> out(t.nbytes());
  std::memcpy(out.data(), t.data(), out.size());
  return out;
}

const tensor_view& entry(const state_dict& sd, std::string_view name) {
  for (const auto& e : sd.entries)
    if (e.name == name) return e.tensor;
  FAIL("no entry " << std::string(name));
  return sd.entries.front().tensor;
}

// Converts `from`'s tensor into `type` and compares with torch's tensor `want`, bit for bit.
void check_conversion(const state_dict& sd, const char* from, dtype type, const char* want) {
  CAPTURE(from);
  CAPTURE(want);
  const tensor_view w = entry(sd, want);
  std::vector<std::byte> buf(w.nbytes());
  const tensor_view src = entry(sd, from);
  std::vector<destination> d{{from, type, {src.shape().begin(), src.shape().end()}, buf}};
  REQUIRE(load_into(sd, d).has_value());
  const auto expected = bytes_of(w);
  for (std::size_t i = 0; i < buf.size(); i += itemsize(type))
    CHECK_MESSAGE(std::memcmp(buf.data() + i, expected.data() + i, itemsize(type)) == 0, "element " << i / itemsize(type));
}

}  // namespace

TEST_CASE("load_into: float32/float16/bfloat16 conversions equal torch's .to(dtype), bit for bit") {
  const checkpoint ck = open_fixture("conversions.pth");
  auto sd = find_state_dict(ck);
  REQUIRE(sd.has_value());
  check_conversion(*sd, "f32", dtype::float16, "f16");
  check_conversion(*sd, "f32", dtype::bfloat16, "bf16");
  check_conversion(*sd, "f16", dtype::bfloat16, "f16_to_bf16");
  check_conversion(*sd, "bf16", dtype::float16, "bf16_to_f16");
  check_conversion(*sd, "f16", dtype::float32, "f16_to_f32");
  check_conversion(*sd, "bf16", dtype::float32, "bf16_to_f32");
  check_conversion(*sd, "f32", dtype::float32, "f32");
}

TEST_CASE("load_into: strided views are written in C order; 0-d takes [1]; int64 copies as is") {
  const checkpoint ck = open_fixture("conversions.pth");
  auto sd = find_state_dict(ck);
  REQUIRE(sd.has_value());
  std::vector<std::byte> t(5 * 3 * 4), s(4), c(6 * 8);
  std::vector<destination> d{{"transposed", dtype::float32, {5, 3}, t}, {"scalar1", dtype::float32, {}, s},
                             {"counts", dtype::int64, {2, 3}, c}};
  REQUIRE(load_into(*sd, d).has_value());
  CHECK(bytes_of(entry(*sd, "transposed_c")) == t);
  float f;
  std::memcpy(&f, s.data(), 4);
  CHECK(f == 2.5f);
  std::int64_t last;
  std::memcpy(&last, c.data() + 40, 8);
  CHECK(last == 5);
}

TEST_CASE("load_into: mismatches are refused before anything is written") {
  const checkpoint ck = open_fixture("conversions.pth");
  auto sd = find_state_dict(ck);
  REQUIRE(sd.has_value());
  std::vector<std::byte> ok(6 * 8, std::byte{0x5a}), small(8), f(15 * 4);
  auto code = [&](std::vector<destination> d) { return load_into(*sd, d).code(); };
  CHECK(code({{"counts", dtype::int64, {2, 3}, ok}, {"nope", dtype::float32, {}, small}}) == errc::destination_mismatch);
  CHECK(ok[0] == std::byte{0x5a});  // the first destination was not written
  CHECK(code({{"counts", dtype::int64, {3, 2}, ok}}) == errc::destination_mismatch);
  CHECK(code({{"counts", dtype::int32, {2, 3}, ok}}) == errc::destination_mismatch);
  CHECK(code({{"counts", dtype::int64, {2, 3}, small}}) == errc::destination_mismatch);
  CHECK(code({{"transposed", dtype::int32, {5, 3}, f}}) == errc::destination_mismatch);
  const checkpoint meta = open_fixture("conversions.pth", load_mode::metadata);
  auto msd = find_state_dict(meta);
  REQUIRE(msd.has_value());
  std::vector<destination> d{{"transposed", dtype::float32, {5, 3}, f}};
  CHECK(load_into(*msd, d).code() == errc::unsupported_feature);
}
