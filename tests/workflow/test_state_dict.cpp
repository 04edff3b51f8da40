// find_state_dict on real torch fixtures: which dict is chosen, order, prefix stripping, errors.
#include <doctest/doctest.h>

#include <string>

#include "pthsafe/pthsafe.hpp"
#include "pthsafe/state_dict.hpp"

using namespace pthsafe;

namespace {

std::string fixture(const char* name) { return std::string(PTHSAFE_FIXTURES) + "/" + name; }

checkpoint open_fixture(const char* name) {
  auto ck = checkpoint::open(fixture(name));
  REQUIRE_MESSAGE(ck.has_value(), name);
  return std::move(ck).value();
}

}  // namespace

TEST_CASE("state_dict: a bare state_dict is the root, in file order") {
  const checkpoint ck = open_fixture("state_dict.pth");
  auto sd = find_state_dict(ck);
  REQUIRE(sd.has_value());
  CHECK(sd->key.empty());
  REQUIRE(sd->entries.size() == 9);
  CHECK(sd->entries[0].name == "0.weight");
  CHECK(sd->entries[0].tensor.shape().size() == 4);
  CHECK(sd->entries[0].tensor.shape()[0] == 3);
  CHECK(sd->entries[1].name == "0.bias");
  CHECK(sd->stripped == 0);
}

TEST_CASE("state_dict: a training checkpoint's model is found under 'model'") {
  for (const char* name : {"last.pth", "t113_last.pth", "training_checkpoint.pth"}) {
    const checkpoint ck = open_fixture(name);
    auto sd = find_state_dict(ck);
    REQUIRE_MESSAGE(sd.has_value(), name);
    CHECK(sd->key == "model");
    CHECK(sd->entries.size() == 9);
    const auto direct = ck.find_tensor("model/0.weight");
    REQUIRE(direct.has_value());
    CHECK(sd->entries[0].tensor.data() == direct->data());
  }
}

TEST_CASE("state_dict: explicit key path, and what it may not name") {
  const checkpoint ck = open_fixture("last.pth");
  state_dict_options o;
  o.key = "model";
  auto sd = find_state_dict(ck, o);
  REQUIRE(sd.has_value());
  CHECK(sd->key == "model");
  o.key = "optimizer";
  CHECK(find_state_dict(ck, o).code() == errc::type_mismatch);
  o.key = "no_such_key";
  CHECK(find_state_dict(ck, o).code() == errc::not_found);
}

TEST_CASE("state_dict: no candidate is not_found") {
  const checkpoint ck = open_fixture("python_values.pt");
  CHECK(find_state_dict(ck).code() == errc::not_found);
}

TEST_CASE("state_dict: strip 'module.' only where it is a prefix") {
  const checkpoint ck = open_fixture("module_prefix.pth");
  state_dict_options o;
  o.strip_prefix = "module.";
  auto sd = find_state_dict(ck, o);
  REQUIRE(sd.has_value());
  CHECK(sd->stripped == 9);
  CHECK(sd->entries[0].name == "0.weight");
  o.strip_prefix = "0.";  // only the names that start with it
  const checkpoint plain = open_fixture("state_dict.pth");
  auto sd2 = find_state_dict(plain, o);
  REQUIRE(sd2.has_value());
  CHECK(sd2->stripped == 2);
  CHECK(sd2->entries[0].name == "weight");
  CHECK(sd2->entries[2].name == "1.weight");
}

TEST_CASE("state_dict: names equal after stripping are a collision naming both keys") {
  const checkpoint ck = open_fixture("prefix_collision.pth");
  auto plain = find_state_dict(ck);
  REQUIRE(plain.has_value());
  CHECK(plain->entries.size() == 3);
  state_dict_options o;
  o.strip_prefix = "module.";
  auto sd = find_state_dict(ck, o);
  REQUIRE(sd.code() == errc::state_dict_key_collision);
  const std::string msg = sd.error_value().message;
  CHECK(msg.find("'fc.weight'") != std::string::npos);
  CHECK(msg.find("'module.fc.weight'") != std::string::npos);
}
