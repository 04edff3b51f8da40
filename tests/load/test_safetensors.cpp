// safetensors_file: files written by the safetensors package, and a catalogue of damaged ones
// (one kind of damage per row, exact errc).
#include <doctest/doctest.h>

#include <cstring>
#include <string>
#include <vector>

#include "pthsafe/pthsafe.hpp"
#include "pthsafe/safetensors.hpp"

using namespace pthsafe;

namespace {

std::string fixture(const char* name) { return std::string(PTHSAFE_FIXTURES) + "/" + name; }

// 8-byte little-endian length, the header, `data` bytes of data section.
std::vector<std::byte> file_of(const std::string& header, std::size_t data, std::uint64_t claimed = UINT64_MAX) {
  const std::uint64_t n = claimed == UINT64_MAX ? header.size() : claimed;
  std::vector<std::byte> out(8 + header.size() + data, std::byte{0});
  std::memcpy(out.data(), &n, 8);
  std::memcpy(out.data() + 8, header.data(), header.size());
  return out;
}

}  // namespace

TEST_CASE("safetensors: a file the safetensors package wrote equals the model's state_dict") {
  auto st = safetensors_file::open(fixture("match/identical/ref.safetensors"));
  REQUIRE(st.has_value());
  auto ck = checkpoint::open(fixture("match/identical/ref.pth"));
  REQUIRE(ck.has_value());
  auto sd = find_state_dict(*ck);
  REQUIRE(sd.has_value());
  REQUIRE(st->tensors().size() == sd->entries.size());
  CHECK(st->data_offset() % 8 == 0);  // the writer pads the header with spaces
  std::size_t matched = 0;
  for (const auto& t : st->tensors()) {
    for (const auto& e : sd->entries) {
      if (e.name != t.name) continue;
      ++matched;
      CHECK(t.type == e.tensor.element_type());
      CHECK(std::equal(t.shape.begin(), t.shape.end(), e.tensor.shape().begin(), e.tensor.shape().end()));
      REQUIRE(t.bytes.size() == e.tensor.nbytes());
      CHECK(std::memcmp(t.bytes.data(), e.tensor.data(), t.bytes.size()) == 0);
    }
  }
  CHECK(matched == sd->entries.size());
  // The package sorts the header by dtype alignment, then name: "features.0.bias" first.
  CHECK(st->tensors().front().name == "fc.bias");
}

TEST_CASE("safetensors: __metadata__ and header order are kept") {
  const std::string h = R"({"__metadata__":{"format":"pt","b":"x"},"z":{"dtype":"F16","shape":[2],"data_offsets":[4,8]},)"
                        R"("a":{"dtype":"I32","shape":[],"data_offsets":[0,4]}}   )";
  const auto bytes = file_of(h, 8);
  auto st = safetensors_file::open_buffer(bytes);
  REQUIRE(st.has_value());
  REQUIRE(st->metadata().size() == 2);
  CHECK(st->metadata()[0].first == "format");
  CHECK(st->metadata()[1].second == "x");
  REQUIRE(st->tensors().size() == 2);
  CHECK(st->tensors()[0].name == "z");
  CHECK(st->tensors()[0].type == dtype::float16);
  CHECK(st->tensors()[0].bytes.data() == bytes.data() + 8 + h.size() + 4);
  CHECK(st->tensors()[1].shape.empty());
  // Empty files and empty tensors are fine.
  CHECK(safetensors_file::open_buffer(file_of("{}", 0)).has_value());
  CHECK(safetensors_file::open_buffer(file_of(R"({"e":{"dtype":"F32","shape":[0,3],"data_offsets":[0,0]}})", 0)).has_value());
}

namespace {

enum class st_damage {
  too_short, length_past_end, length_over_crate_limit, not_brace, json_after_object, malformed_json, duplicate_name,
  metadata_not_strings, entry_not_object, unknown_member, missing_dtype, bad_offsets_arity, negative_dim,
  unknown_dtype, numel_overflow, span_not_numel, gap, overlap, not_covering, trailing_data, first_not_zero,
  too_many_dims,
};

struct st_case {
  st_damage kind;
  std::vector<std::byte> bytes;
  errc expected;
};

std::string one(const std::string& spec) { return R"({"t":)" + spec + "}"; }

std::vector<st_case> catalogue() {
  using d = st_damage;
  std::vector<st_case> c;
  c.push_back({d::too_short, std::vector<std::byte>(7), errc::safetensors_bad_header});
  c.push_back({d::length_past_end, file_of("{}", 0, 3), errc::safetensors_bad_header});
  c.push_back({d::length_over_crate_limit, file_of("{}", 0, 100'000'001), errc::safetensors_bad_header});
  c.push_back({d::not_brace, file_of(" {}", 0), errc::safetensors_bad_header});
  c.push_back({d::json_after_object, file_of("{}[]", 0), errc::json_malformed});
  c.push_back({d::malformed_json, file_of("{\"a\":}", 0), errc::json_malformed});
  c.push_back({d::duplicate_name, file_of(R"({"t":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"t":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}})", 2),
               errc::json_duplicate_key});
  c.push_back({d::metadata_not_strings, file_of(R"({"__metadata__":{"a":1}})", 0), errc::safetensors_bad_header});
  c.push_back({d::entry_not_object, file_of(one("[]"), 0), errc::safetensors_bad_header});
  c.push_back({d::unknown_member, file_of(one(R"({"dtype":"U8","shape":[1],"data_offsets":[0,1],"x":0})"), 1), errc::safetensors_bad_header});
  c.push_back({d::missing_dtype, file_of(one(R"({"shape":[1],"data_offsets":[0,1]})"), 1), errc::safetensors_bad_header});
  c.push_back({d::bad_offsets_arity, file_of(one(R"({"dtype":"U8","shape":[1],"data_offsets":[0,1,2]})"), 1), errc::safetensors_bad_header});
  c.push_back({d::negative_dim, file_of(one(R"({"dtype":"U8","shape":[-1],"data_offsets":[0,1]})"), 1), errc::safetensors_bad_header});
  c.push_back({d::unknown_dtype, file_of(one(R"({"dtype":"F4","shape":[1],"data_offsets":[0,1]})"), 1), errc::safetensors_bad_dtype});
  c.push_back({d::numel_overflow, file_of(one(R"({"dtype":"U8","shape":[4294967296,4294967296],"data_offsets":[0,1]})"), 1),
               errc::safetensors_bad_header});
  c.push_back({d::span_not_numel, file_of(one(R"({"dtype":"F32","shape":[2],"data_offsets":[0,4]})"), 4), errc::safetensors_bad_offsets});
  c.push_back({d::gap, file_of(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"b":{"dtype":"U8","shape":[1],"data_offsets":[2,3]}})", 3),
               errc::safetensors_bad_offsets});
  c.push_back({d::overlap, file_of(R"({"a":{"dtype":"U16","shape":[1],"data_offsets":[0,2]},"b":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}})", 2),
               errc::safetensors_bad_offsets});
  c.push_back({d::not_covering, file_of(one(R"({"dtype":"U8","shape":[1],"data_offsets":[0,1]})"), 0), errc::safetensors_bad_offsets});
  c.push_back({d::trailing_data, file_of(one(R"({"dtype":"U8","shape":[1],"data_offsets":[0,1]})"), 2), errc::safetensors_bad_offsets});
  c.push_back({d::first_not_zero, file_of(one(R"({"dtype":"U8","shape":[1],"data_offsets":[1,2]})"), 2), errc::safetensors_bad_offsets});
  c.push_back({d::too_many_dims, file_of(one(R"({"dtype":"U8","shape":[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,)"
                                              R"(1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1],"data_offsets":[0,1]})"), 1),
               errc::limit_exceeded});
  return c;
}

}  // namespace

TEST_CASE("safetensors: damaged files fail with their exact code") {
  for (const auto& c : catalogue()) {
    CAPTURE(static_cast<int>(c.kind));
    auto st = safetensors_file::open_buffer(c.bytes);
    REQUIRE_FALSE(st.has_value());
    CHECK(errc_name(st.code()) == errc_name(c.expected));
  }
}
