// The local-header walks hand back the mapped pages they have read past (zip/directory.hpp
// release_behind). The pages come back from the file when read again: a file-backed load must
// see exactly what a buffer load sees, and the walk's results must not change.
#include <doctest/doctest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "pthsafe/pthsafe.hpp"
#include "support/pickle_builder.hpp"
#include "support/zip_builder.hpp"
#include "zip/directory.hpp"

using namespace pthsafe_test;
using pthsafe::errc;

namespace {

std::string write_tmp(const bytes& b, const char* name) {
  const auto dir = std::filesystem::temp_directory_path() / "pthsafe_test_page_release";
  std::filesystem::create_directories(dir);
  const auto p = (dir / name).string();
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
  return p;
}

}  // namespace

TEST_CASE("release_behind: below the offsets a walk passes, in steps, never backwards") {
  const bytes file(4096);
  std::vector<std::pair<std::size_t, std::size_t>> got;
  const pthsafe::detail::page_release rel = [&](std::span<const std::byte> b) {
    got.emplace_back(static_cast<std::size_t>(b.data() - file.data()), b.size());
  };
  // step 100 bytes and 3 headers.
  pthsafe::detail::release_behind behind(std::span<const std::byte>(file), rel, 100, 3);
  behind.passed(10);
  behind.passed(50);
  behind.passed(150);   // 3 headers, 150 bytes: [0, 150)
  behind.passed(120);   // backwards: nothing
  behind.passed(400);   // 250 bytes but 2 headers since: nothing yet
  behind.passed(3000);  // 3 headers: [150, 3000)
  behind.passed(3050);
  behind.passed(3060);
  behind.passed(5000);  // past the end: nothing
  REQUIRE(got.size() == 2);
  CHECK(got[0] == std::pair<std::size_t, std::size_t>{0, 150});
  CHECK(got[1] == std::pair<std::size_t, std::size_t>{150, 2850});
  const pthsafe::detail::page_release none;
  pthsafe::detail::release_behind idle(std::span<const std::byte>(file), none, 1, 1);
  idle.passed(2000);  // no release function: nothing to call
}

TEST_CASE("a file-backed load whose header pages were released reads every byte as a buffer load does") {
  // 300 storages of 32 KiB: the walk releases once it has passed 256 headers and 8 MiB.
  std::vector<tensor_spec> specs;
  std::vector<storage_blob> blobs;
  constexpr int count = 300;
  constexpr std::int64_t n = (32 << 10) / 4;
  for (int i = 0; i < count; ++i) {
    tensor_spec t;
    t.key = "w" + std::to_string(i);
    t.storage_key = std::to_string(i);
    t.shape = {n};
    specs.push_back(t);
    bytes data = float32_ramp(static_cast<std::size_t>(n));
    data[0] = static_cast<std::byte>(i % 251 + 1);  // storages differ
    data[1] = static_cast<std::byte>(i / 251 + 1);
    blobs.push_back({std::to_string(i), data});
  }
  const bytes file = torch_checkpoint(state_dict_pickle(specs), blobs).build();
  REQUIRE(file.size() > (9u << 20));
  const std::string path = write_tmp(file, "many.pth");
  for (const auto mode : {pthsafe::load_mode::mmap, pthsafe::load_mode::copy}) {
    pthsafe::load_options o;
    o.mode = mode;
    auto from_file = pthsafe::checkpoint::open(path, o);
    auto from_buffer = pthsafe::checkpoint::open_buffer(file, o);
    REQUIRE(from_file);
    REQUIRE(from_buffer);
    REQUIRE(from_file->tensor_count() == count);
    for (int i = 0; i < count; ++i) {
      CAPTURE(i);
      auto a = from_file->find_tensor("w" + std::to_string(i));
      auto b = from_buffer->find_tensor("w" + std::to_string(i));
      REQUIRE(a);
      REQUIRE(b);
      REQUIRE(a->nbytes() == b->nbytes());
      CHECK(std::memcmp(a->data(), b->data(), static_cast<std::size_t>(a->nbytes())) == 0);
      CHECK(std::memcmp(a->data(), blobs[static_cast<std::size_t>(i)].data.data(), static_cast<std::size_t>(a->nbytes())) == 0);
    }
  }
  // A damaged header past the first release is refused with the same code either way.
  bytes bad = file;
  const std::string_view name = "archive/data/299";
  const std::string_view text(reinterpret_cast<const char*>(bad.data()), bad.size());
  const auto at = text.find(name);  // the first occurrence: the local header's name
  REQUIRE(at != std::string_view::npos);
  REQUIRE(at > (8u << 20));  // past the first release
  bad[at + name.size() - 1] = static_cast<std::byte>('8');
  const std::string bad_path = write_tmp(bad, "bad.pth");
  CHECK(pthsafe::checkpoint::open(bad_path).code() == pthsafe::checkpoint::open_buffer(bad).code());
  CHECK(pthsafe::checkpoint::open(bad_path).code() == errc::zip_local_header);
}
