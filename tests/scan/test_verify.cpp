// The verify catalogue: one kind of damage per case, made to a real torch checkpoint, and the
// exact records verify_file must name (with the offset of their data) and the verdict.
#include <doctest/doctest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "pthsafe/pthsafe.hpp"
#include "pthsafe/verify.hpp"
#include "zip/archive.hpp"

using namespace pthsafe;

namespace {

std::vector<std::byte> read_all(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::vector<char> c((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  std::vector<std::byte> out(c.size());
  std::memcpy(out.data(), c.data(), c.size());
  return out;
}

std::string write_tmp(const std::vector<std::byte>& b, const char* name) {
  const auto dir = std::filesystem::temp_directory_path() / "pthsafe_test_verify";
  std::filesystem::create_directories(dir);
  const auto p = (dir / name).string();
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
  return p;
}

struct layout {
  std::vector<std::string> names;
  std::vector<std::uint64_t> data_offset, central_offset, size;
};

layout layout_of(const std::vector<std::byte>& b) {
  auto a = detail::archive::open(b, limits{});
  REQUIRE(a.has_value());
  layout l;
  for (const auto& e : (*a)->entries()) {
    l.names.emplace_back(e.name());
    l.data_offset.push_back(e.data_offset());
    l.central_offset.push_back(e.central_offset(std::as_bytes(std::span(b))));
    l.size.push_back(e.uncomp_size);
  }
  return l;
}

std::size_t index_of(const layout& l, const std::string& suffix) {
  for (std::size_t i = 0; i < l.names.size(); ++i) {
    if (l.names[i].size() >= suffix.size() && l.names[i].compare(l.names[i].size() - suffix.size(), suffix.size(), suffix) == 0) return i;
  }
  FAIL("no record ending in " << suffix);
  return 0;
}

enum class damage { none, storage_byte, two_storages, pickle_byte, version_byte, serialization_id_byte,
                    central_crc_of_storage, local_name_of_storage, truncated, legacy_container };

struct expectation {
  damage kind;
  verdict v;
  std::vector<std::string> records;  // suffixes of the records whose bytes are corrupted, in directory order
  // Damage to the structure stops the walk before any CRC is checked: the scan's finding names
  // the rule and (where one is concerned) the record.
  std::string structure_rule = {};
  std::string structure_record = {};
};

}  // namespace

TEST_CASE("verify catalogue: every corrupted record named, with its data offset") {
  const std::string fixture = std::string(PTHSAFE_FIXTURES) + "/state_dict.pth";
  const auto intact = read_all(fixture);
  const layout l = layout_of(intact);
  const std::vector<expectation> catalogue = {
      {damage::none, verdict::safe, {}},
      {damage::storage_byte, verdict::malformed, {"/data/2"}},
      {damage::two_storages, verdict::malformed, {"/data/0", "/data/3"}},
      {damage::pickle_byte, verdict::malformed, {"/data.pkl"}},
      {damage::version_byte, verdict::malformed, {"/version"}},
      {damage::serialization_id_byte, verdict::malformed, {"/.data/serialization_id"}},
      {damage::central_crc_of_storage, verdict::malformed, {}, "zip_local_header", "/data/1"},
      {damage::local_name_of_storage, verdict::malformed, {}, "zip_local_header", "/data/2"},
      {damage::truncated, verdict::malformed, {}, "zip_no_eocd"},
      {damage::legacy_container, verdict::safe, {}},
  };
  for (const auto& c : catalogue) {
    CAPTURE(static_cast<int>(c.kind));
    std::vector<std::byte> b = intact;
    const auto flip = [&](const std::string& rec, std::uint64_t at) { b[l.data_offset[index_of(l, rec)] + at] ^= std::byte{0x5a}; };
    std::string path;
    switch (c.kind) {
      case damage::none: break;
      case damage::storage_byte: flip("/data/2", 3); break;
      case damage::two_storages: flip("/data/0", 0); flip("/data/3", 1); break;
      case damage::pickle_byte: flip("/data.pkl", 40); break;
      case damage::version_byte: flip("/version", 0); break;
      case damage::serialization_id_byte: flip("/.data/serialization_id", 5); break;
      case damage::central_crc_of_storage: b[l.central_offset[index_of(l, "/data/1")] + 16] ^= std::byte{1}; break;
      case damage::local_name_of_storage: {
        // The local header's name ends in "/data/2": its last character changed.
        const std::size_t at = index_of(l, "/data/2");
        const std::uint64_t name_end = l.data_offset[at];  // FB padding follows the name: find the name itself
        const std::string want = l.names[at];
        for (std::uint64_t p = name_end - want.size(); p > 0; --p) {
          if (std::memcmp(b.data() + p, want.data(), want.size()) == 0) {
            b[p + want.size() - 1] = std::byte{'7'};
            break;
          }
        }
        break;
      }
      case damage::truncated: b.resize(b.size() - 30); break;
      case damage::legacy_container: path = std::string(PTHSAFE_FIXTURES) + "/legacy.pt"; break;
    }
    if (path.empty()) path = write_tmp(b, "verify.pth");
    const verify_report rep = verify_file(path);
    CHECK(rep.scan.verdict == c.v);
    REQUIRE(rep.corrupt.size() == c.records.size());
    for (std::size_t i = 0; i < c.records.size(); ++i) {
      const std::size_t at = index_of(l, c.records[i]);
      CHECK(rep.corrupt[i].record == l.names[at]);
      CHECK(rep.corrupt[i].offset == l.data_offset[at]);
      CHECK(rep.corrupt[i].code == errc::zip_crc_mismatch);
      // Each is a finding of its own, once, with its record and offset.
      std::size_t seen = 0;
      for (const auto& f : rep.scan.findings) {
        if (f.record == l.names[at] && f.rule == "zip_crc_mismatch") ++seen;
      }
      CHECK(seen == 1);
    }
    if (c.kind == damage::none) CHECK(rep.records_checked == l.names.size());
    if (!c.structure_rule.empty() || c.kind == damage::legacy_container) CHECK(rep.records_checked == 0);
    if (!c.structure_rule.empty()) {
      REQUIRE_FALSE(rep.scan.findings.empty());
      CHECK(rep.scan.findings.front().rule == c.structure_rule);
      const std::string want = c.structure_record.empty() ? "" : l.names[index_of(l, c.structure_record)];
      CHECK(rep.scan.findings.front().record == want);
    }
  }
}
