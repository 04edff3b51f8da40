// The local-header walks hand back the mapped pages they have read past (zip/directory.hpp
// release_behind). The pages come back from the file when read again: a file-backed load must
// see exactly what a buffer load sees, and the walk's results must not change.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "pthsafe/pthsafe.hpp"
#include "support/pickle_builder.hpp"
#include "support/zip_builder.hpp"
#include "io/source.hpp"
#include "zip/archive.hpp"
#include "zip/directory.hpp"
#include "zip/local_reads.hpp"

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

// `count` float32 storages of `each` bytes as torch lays them out: tensor "w<i>" on storage
// "<i>", each storage's first two bytes its own (blobs receives them, in order).
zip_builder distinct_storages(int count, std::size_t each, std::vector<storage_blob>& blobs) {
  std::vector<tensor_spec> specs;
  const auto n = static_cast<std::int64_t>(each / 4);
  for (int i = 0; i < count; ++i) {
    tensor_spec t;
    t.key = "w" + std::to_string(i);
    t.storage_key = std::to_string(i);
    t.shape = {n};
    specs.push_back(t);
    bytes data = float32_ramp(static_cast<std::size_t>(n));
    data[0] = static_cast<std::byte>(i % 251 + 1);
    data[1] = static_cast<std::byte>(i / 251 + 1);
    blobs.push_back({std::to_string(i), data});
  }
  return torch_checkpoint(state_dict_pickle(specs), blobs);
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
  std::vector<storage_blob> blobs;
  constexpr int count = 300;
  const bytes file = distinct_storages(count, 32 << 10, blobs).build();
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

TEST_CASE("copy placement in batches: more copied records than one batch of jobs, every byte in place") {
  // place_storages makes and reads 8,192 jobs at a time, in directory order.
  std::vector<storage_blob> blobs;
  constexpr int count = 8192 * 2 + 17;
  const bytes file = distinct_storages(count, 64, blobs).build();
  pthsafe::load_options o;
  o.mode = pthsafe::load_mode::copy;
  o.limits.max_tree_bytes = std::uint64_t{1} << 30;
  auto ck = pthsafe::checkpoint::open(write_tmp(file, "batches.pth"), o);
  REQUIRE_MESSAGE(ck, ck.error_value().to_string());
  REQUIRE(ck->tensor_count() == count);
  for (int i = 0; i < count; ++i) {
    CAPTURE(i);
    auto t = ck->find_tensor("w" + std::to_string(i));
    REQUIRE(t);
    REQUIRE(t->nbytes() == 64);
    CHECK(std::memcmp(t->data(), blobs[static_cast<std::size_t>(i)].data.data(), 64) == 0);
  }
}

TEST_CASE("copy placement: records in torch's key-text order and two storages on one record land in place") {
  // torch files data/<key> records sorted by key as text ("0", "1", "10", ...): the copies are
  // put in directory order, not storage order. Two keys equal after miniz's case folding name one
  // record: both storages receive its bytes.
  std::vector<storage_blob> blobs;
  constexpr int count = 8192 + 300;
  distinct_storages(count, 64, blobs);  // the blobs: each storage's bytes its own
  std::vector<tensor_spec> specs;
  for (int i = 0; i < count; ++i) {
    tensor_spec t;
    t.key = "w" + std::to_string(i);
    t.storage_key = std::to_string(i);
    t.shape = {16};
    specs.push_back(t);
  }
  for (const char* key : {"a", "A"}) {
    tensor_spec t;
    t.key = std::string("case_") + key;
    t.storage_key = key;
    t.shape = {16};
    specs.push_back(t);
  }
  std::vector<storage_blob> in_text_order = blobs;
  std::sort(in_text_order.begin(), in_text_order.end(), [](const storage_blob& x, const storage_blob& y) { return x.key < y.key; });
  bytes shared = float32_ramp(16);
  shared[0] = std::byte{0xab};
  in_text_order.push_back({"a", shared});
  const bytes file = torch_checkpoint(state_dict_pickle(specs), in_text_order).build();
  pthsafe::load_options o;
  o.mode = pthsafe::load_mode::copy;
  o.limits.max_tree_bytes = std::uint64_t{1} << 30;
  auto ck = pthsafe::checkpoint::open(write_tmp(file, "text_order.pth"), o);
  REQUIRE_MESSAGE(ck, ck.error_value().to_string());
  REQUIRE(ck->tensor_count() == count + 2);
  for (int i = 0; i < count; ++i) {
    CAPTURE(i);
    auto t = ck->find_tensor("w" + std::to_string(i));
    REQUIRE(t);
    REQUIRE(t->nbytes() == 64);
    REQUIRE(t->data() != nullptr);
    CHECK(std::memcmp(t->data(), blobs[static_cast<std::size_t>(i)].data.data(), 64) == 0);
  }
  for (const char* key : {"case_a", "case_A"}) {
    CAPTURE(key);
    auto t = ck->find_tensor(key);
    REQUIRE(t);
    REQUIRE(t->nbytes() == 64);
    REQUIRE(t->data() != nullptr);
    CHECK(std::memcmp(t->data(), shared.data(), 64) == 0);
  }
}

TEST_CASE("a load whose pickle and central directory pages go back reads names and bytes as a buffer load does") {
  // 20,000 tensors with 250-byte keys: a ~6.5 MB pickle (the machine hands it back behind
  // itself) and a directory of over 1 MiB (handed back before the pickle runs).
  constexpr int count = 20000;
  std::vector<tensor_spec> specs;
  std::vector<storage_blob> blobs;
  for (int i = 0; i < count; ++i) {
    tensor_spec t;
    t.key = "w" + std::to_string(i);
    t.key.resize(250, 'k');
    t.storage_key = std::to_string(i);
    t.shape = {2};
    specs.push_back(t);
    bytes data = float32_ramp(2);
    data[0] = static_cast<std::byte>(i % 251 + 1);
    data[1] = static_cast<std::byte>(i / 251 + 1);
    blobs.push_back({std::to_string(i), data});
  }
  const bytes file = torch_checkpoint(state_dict_pickle(specs), blobs).build();
  {
    auto z = pthsafe::detail::archive::open(std::span<const std::byte>(file.data(), file.size()), pthsafe::limits{});
    REQUIRE(z);
    CHECK((*z)->directory_bytes().size() > (std::size_t{1} << 20));
    const auto pkl = (*z)->find("data.pkl");
    REQUIRE(pkl);
    CHECK((*z)->entries()[*pkl].uncomp_size > (std::uint64_t{4} << 20));
  }
  const std::string path = write_tmp(file, "long_keys.pth");
  pthsafe::load_options o;
  o.mode = pthsafe::load_mode::mmap;
  auto from_file = pthsafe::checkpoint::open(path, o);
  auto from_buffer = pthsafe::checkpoint::open_buffer(file, o);
  REQUIRE(from_file);
  REQUIRE(from_buffer);
  REQUIRE(from_file->tensor_count() == count);
  for (int i = 0; i < count; i += 7) {
    CAPTURE(i);
    std::string key = "w" + std::to_string(i);
    key.resize(250, 'k');
    auto a = from_file->find_tensor(key);
    auto b = from_buffer->find_tensor(key);
    REQUIRE(a);
    REQUIRE(b);
    CHECK(a->storage().record() == "archive/data/" + std::to_string(i));  // a name in the handed-back directory
    CHECK(a->storage().record() == b->storage().record());
    CHECK(std::memcmp(a->data(), blobs[static_cast<std::size_t>(i)].data.data(), 8) == 0);
  }
}

TEST_CASE("release_behind: a dense walk hands back its last stretch when it ends; a sparse one keeps it") {
  const bytes file(4096);
  std::vector<std::pair<std::size_t, std::size_t>> got;
  const pthsafe::detail::page_release rel = [&](std::span<const std::byte> b) {
    got.emplace_back(static_cast<std::size_t>(b.data() - file.data()), b.size());
  };
  {
    pthsafe::detail::release_behind behind(std::span<const std::byte>(file), rel, 100, 2);
    behind.passed(0);
    behind.passed(200);  // [0, 200)
    behind.passed(250);
    behind.passed(260);
  }  // ends: [200, 260)
  REQUIRE(got.size() == 2);
  CHECK(got[1] == std::pair<std::size_t, std::size_t>{200, 60});
  got.clear();
  {
    pthsafe::detail::release_behind sparse(std::span<const std::byte>(file), rel, 1000, 2);
    sparse.passed(0);
    sparse.passed(900);  // never a step: never dense
  }
  CHECK(got.empty());
}

TEST_CASE("release_behind: passes that start again below (libzip: directory, then local headers) each hand back") {
  const bytes file(4096);
  std::vector<std::pair<std::size_t, std::size_t>> got;
  const pthsafe::detail::page_release rel = [&](std::span<const std::byte> b) {
    got.emplace_back(static_cast<std::size_t>(b.data() - file.data()), b.size());
  };
  {
    pthsafe::detail::release_behind behind(std::span<const std::byte>(file), rel, 100, 2);
    behind.passed_in_passes(3000);  // the directory, read first
    behind.passed_in_passes(3200);  // [0, 3200)
    behind.passed_in_passes(3300);
    behind.passed_in_passes(10);    // back to the first local header: [3200, 3300), a new pass
    behind.passed_in_passes(500);   // [10, 500)
    behind.passed_in_passes(520);
  }  // [500, 520)
  REQUIRE(got.size() == 4);
  CHECK(got[0] == std::pair<std::size_t, std::size_t>{0, 3200});
  CHECK(got[1] == std::pair<std::size_t, std::size_t>{3200, 100});
  CHECK(got[2] == std::pair<std::size_t, std::size_t>{10, 490});
  CHECK(got[3] == std::pair<std::size_t, std::size_t>{500, 20});
  // Plain passed() never goes back: the same reads release only the first pass.
  got.clear();
  {
    pthsafe::detail::release_behind behind(std::span<const std::byte>(file), rel, 100, 2);
    for (const std::uint64_t at : {3000, 3200, 3300, 10, 500, 520}) behind.passed(at);
  }
  REQUIRE(got.size() == 2);
  CHECK(got[0] == std::pair<std::size_t, std::size_t>{0, 3200});
  CHECK(got[1] == std::pair<std::size_t, std::size_t>{3200, 100});
}

namespace {

// 300 stored records of 32 KiB (dense enough to release), then a deflated record and a
// pickle record that no load reads, both past the first release.
zip_builder many_records_with_extras(std::vector<storage_blob>& blobs, const bytes& extra) {
  auto z = distinct_storages(300, 32 << 10, blobs);
  z.add_deflated("archive/extra.bin", extra);
  z.add("archive/late.pkl", std::string_view("\x80\x02" "cposix\nsystem\nX\x02\x00\x00\x00idq\x00\x85q\x01Rq\x02.", 32));
  return z;
}

}  // namespace

TEST_CASE("libzip opens a mapped file through a reader that hands back pages; what it reads is unchanged") {
  std::vector<storage_blob> blobs;
  bytes extra(200000);
  std::uint32_t x = 12345;  // not compressible past the ratio limit
  for (auto& b : extra) b = static_cast<std::byte>((x = x * 1103515245u + 12345u) >> 24);
  const bytes file = many_records_with_extras(blobs, extra).build();
  const std::string path = write_tmp(file, "extras.pth");
  auto src = pthsafe::detail::source::map_file(path);
  REQUIRE(src);
  std::size_t released = 0;
  const pthsafe::detail::page_release rel = [&](std::span<const std::byte> b) {
    ++released;
    src->release_pages(b);
  };
  auto with = pthsafe::detail::archive::open(src->bytes(), {}, pthsafe::detail::zip_check::libzip_always, rel);
  auto without = pthsafe::detail::archive::open(file, {}, pthsafe::detail::zip_check::libzip_always);
  REQUIRE_MESSAGE(with, (with ? "" : with.error_value().message));
  REQUIRE(without);
  CHECK((*with)->libzip_opened());
  CHECK(released >= 6);  // each twice (a step, then the last stretch): the strict walk, its descriptor walk, libzip's header pass
  REQUIRE((*with)->entries().size() == (*without)->entries().size());
  for (std::size_t i = 0; i < (*with)->entries().size(); ++i) {
    CHECK((*with)->name(i) == (*without)->name(i));
    CHECK((*with)->entries()[i].data_offset() == (*without)->entries()[i].data_offset());
  }
  // The deflated record is inflated through libzip after the open: the reader no longer
  // releases (`released` stays), and the bytes are the record's.
  const std::size_t after_open = released;
  const auto at = (*with)->find("extra.bin");
  REQUIRE(at);
  bytes out(extra.size());
  REQUIRE((*with)->extract(*at, out.data(), {}));
  CHECK(out == extra);
  CHECK(released == after_open);
}

TEST_CASE("a scan of a mapped file (pages handed back) reports what a scan of the same bytes in memory reports") {
  std::vector<storage_blob> blobs;
  const bytes file = many_records_with_extras(blobs, bytes(1000, std::byte{1})).build();
  REQUIRE(file.size() > (9u << 20));
  const std::string path = write_tmp(file, "scan_extras.pth");
  const auto a = pthsafe::scan_file(path);
  const auto b = pthsafe::scan_buffer(file);
  CHECK(a.verdict == pthsafe::verdict::unsafe);  // archive/late.pkl calls posix.system
  CHECK(a.verdict == b.verdict);
  REQUIRE(a.findings.size() == b.findings.size());
  bool late = false;
  for (std::size_t i = 0; i < a.findings.size(); ++i) {
    CHECK(a.findings[i].rule == b.findings[i].rule);
    CHECK(a.findings[i].record == b.findings[i].record);
    CHECK(a.findings[i].offset == b.findings[i].offset);
    late = late || a.findings[i].record == "archive/late.pkl";
  }
  CHECK(late);
}

namespace {
// A pread over `file` that counts its calls.
pthsafe::detail::file_pread counting_pread(const bytes& file, std::size_t& calls) {
  return [&file, &calls](std::uint64_t off, std::span<std::byte> dst) {
    ++calls;
    if (off > file.size() || dst.size() > file.size() - off) return false;
    std::memcpy(dst.data(), file.data() + off, dst.size());
    return true;
  };
}
}  // namespace

TEST_CASE("local_reads: the bytes a cursor over the file would read, from the mapping or by pread") {
  bytes file(5000);
  for (std::size_t i = 0; i < file.size(); ++i) file[i] = static_cast<std::byte>(i * 31 % 251);
  std::size_t calls = 0;
  const pthsafe::detail::file_pread pread = counting_pread(file, calls);
  for (const bool by_pread : {false, true}) {
    CAPTURE(by_pread);
    calls = 0;
    pthsafe::detail::local_reads reads(file, by_pread ? &pread : nullptr);
    auto a = reads.bytes(100, 30);
    REQUIRE(a.size() == 30);
    CHECK(std::memcmp(a.data(), file.data() + 100, 30) == 0);
    auto b = reads.bytes(130, 150);  // inside the first read: 32 bytes before 100, 192 from it
    REQUIRE(b.size() == 150);
    CHECK(std::memcmp(b.data(), file.data() + 130, 150) == 0);
    auto before = reads.bytes(80, 16);  // a data descriptor just before the header: read with it
    REQUIRE(before.size() == 16);
    CHECK(std::memcmp(before.data(), file.data() + 80, 16) == 0);
    auto c = reads.bytes(4990, 100);  // cut at the end of the file
    REQUIRE(c.size() == 10);
    CHECK(std::memcmp(c.data(), file.data() + 4990, 10) == 0);
    CHECK(reads.bytes(5000, 4).empty());
    auto d = reads.bytes(1000, 3000);  // longer than the read-ahead
    REQUIRE(d.size() == 3000);
    CHECK(std::memcmp(d.data(), file.data() + 1000, 3000) == 0);
    CHECK(calls == (by_pread ? 3u : 0u));
  }
  // A failed pread falls back to the mapping's bytes.
  const pthsafe::detail::file_pread broken = [](std::uint64_t, std::span<std::byte>) { return false; };
  pthsafe::detail::local_reads reads(file, &broken);
  auto e = reads.bytes(7, 9);
  REQUIRE(e.size() == 9);
  CHECK(std::memcmp(e.data(), file.data() + 7, 9) == 0);
}

TEST_CASE("local_reads by pread: 10,000 reads in any order, past the block bound, give the file's bytes") {
  // More reads than max_blocks (4096), so the pool is dropped and refilled on the way; ranges
  // near and past the end, longer than a chunk (16 KiB), and revisits served from earlier blocks.
  bytes file(1 << 20);
  for (std::size_t i = 0; i < file.size(); ++i) file[i] = static_cast<std::byte>((i * 131 + i / 251) % 253);
  std::size_t calls = 0;
  const pthsafe::detail::file_pread pread = counting_pread(file, calls);
  pthsafe::detail::local_reads reads(file, &pread);
  std::uint64_t state = 12345;
  const auto next = [&state] {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return state >> 33;
  };
  std::size_t checked = 0;
  for (int i = 0; i < 10000; ++i) {
    const std::uint64_t at = i % 7 == 0 ? file.size() - next() % 300 : next() % (file.size() + 64);
    const std::uint64_t n = i % 97 == 0 ? 20000 + next() % 20000 : next() % 260;
    const auto got = reads.bytes(at, n);
    const std::uint64_t want = at >= file.size() ? 0 : std::min<std::uint64_t>(n, file.size() - at);
    REQUIRE(got.size() == want);
    if (want) REQUIRE(std::memcmp(got.data(), file.data() + at, want) == 0);
    ++checked;
    // The same range again: from a block, no new read.
    const std::size_t before = calls;
    const auto again = reads.bytes(at, n);
    REQUIRE(again.size() == want);
    if (want) REQUIRE(std::memcmp(again.data(), file.data() + at, want) == 0);
    CHECK(calls == before);
  }
  CHECK(checked == 10000);
  CHECK(calls > 4096);  // the bound was passed: blocks were dropped and read again
}

TEST_CASE("far-apart records: headers and descriptors read by pread decide as the mapping does") {
  // 12 storages of 96 KiB: records ~96 KiB apart, so the walks pread; the same file as a buffer
  // reads the mapping.
  std::vector<storage_blob> blobs;
  constexpr int count = 12;
  const bytes file = distinct_storages(count, 96 << 10, blobs).build();
  const std::string path = write_tmp(file, "sparse.pth");
  {
    auto dir = pthsafe::detail::read_directory(file, {});
    REQUIRE(dir);
    std::size_t calls = 0;
    const pthsafe::detail::file_pread counting = [&](std::uint64_t off, std::span<std::byte> dst) {
      ++calls;
      std::memcpy(dst.data(), file.data() + off, dst.size());
      return true;
    };
    CHECK(pthsafe::detail::reads_by_pread(counting, *dir));
    auto a = pthsafe::detail::archive::open(file, {}, pthsafe::detail::zip_check::strict_when_stored, {}, counting);
    REQUIRE(a);
    // One read per header: the descriptor before it and the parity walk's second look at it come
    // from the same read (three walks would read 3x without the blocks).
    CHECK(calls >= dir->entries.size() / 2);
    CHECK(calls <= dir->entries.size() + 1);
    auto b = pthsafe::detail::archive::open(file, {}, pthsafe::detail::zip_check::strict_when_stored);
    REQUIRE(b);
    for (std::size_t i = 0; i < (*a)->entries().size(); ++i) CHECK((*a)->entries()[i].data_offset() == (*b)->entries()[i].data_offset());
  }
  for (const auto mode : {pthsafe::load_mode::mmap, pthsafe::load_mode::copy}) {
    pthsafe::load_options o;
    o.mode = mode;
    auto from_file = pthsafe::checkpoint::open(path, o);
    REQUIRE(from_file);
    for (int i = 0; i < count; ++i) {
      auto t = from_file->find_tensor("w" + std::to_string(i));
      REQUIRE(t);
      CHECK(std::memcmp(t->data(), blobs[static_cast<std::size_t>(i)].data.data(), static_cast<std::size_t>(t->nbytes())) == 0);
    }
  }
  // Damage read through pread is refused with the code the mapping gives: a local name, a
  // descriptor's CRC, a local header's version (libzip's rule, decided by the parity walk).
  const std::string_view text(reinterpret_cast<const char*>(file.data()), file.size());
  const auto name_at = text.find("archive/data/7");
  REQUIRE(name_at != std::string_view::npos);
  struct damage {
    const char* what;
    std::uint64_t at;
    errc code;
  };
  auto a7 = pthsafe::detail::archive::open(file, {});
  REQUIRE(a7);
  const auto& entry7 = (*a7)->entries()[*(*a7)->find("data/7")];
  for (const damage& d : {damage{"local name", name_at + 13, errc::zip_local_header},
                          damage{"descriptor CRC", entry7.data_offset() + entry7.comp_size + 4, errc::zip_local_header},
                          damage{"local version needed", name_at - 26, errc::zip_libzip_rejected}}) {
    CAPTURE(d.what);
    bytes bad = file;
    bad[d.at] = static_cast<std::byte>(static_cast<unsigned char>(bad[d.at]) + 40);
    const std::string bad_path = write_tmp(bad, "sparse_bad.pth");
    CHECK(pthsafe::checkpoint::open(bad_path).code() == pthsafe::checkpoint::open_buffer(bad).code());
    CHECK(pthsafe::checkpoint::open(bad_path).code() == d.code);
  }
}
