// Where torch's reader (miniz), CPython's zipfile and libzip could read one file two ways (issue 9
// §1 and §6, issue 16 §1 and §4): which end record, which record a name finds, which top folders
// are names, and how the small text records parse. Every "torch accepts" / "torch refuses" below
// was checked with torch 1.13 (/usr/bin/python3) and torch 2.15 (the venv) on the same bytes
// (tests/hostile/gen_hostile.py, gen_zip_tail, keeps the files that carry the evidence).
#include <doctest/doctest.h>

#include <string>

#include "pthsafe/pthsafe.hpp"
#include "support/pickle_builder.hpp"
#include "torch/small_records.hpp"
#include "zip/archive.hpp"

using namespace pthsafe_test;
using pthsafe::errc;
using namespace std::string_view_literals;

namespace {

bytes proto2(std::string_view body) {
  pickle_writer w;
  w.proto(2).raw(body);
  return w.take();
}
bytes one_tensor_pickle() {
  tensor_spec t;
  t.key = "w";
  t.shape = {2, 3};
  t.storage_numel = 6;
  return state_dict_pickle({t});
}
zip_builder base(const std::string& root = "archive") {
  return torch_checkpoint(one_tensor_pickle(), {{"0", float32_ramp(6)}}, root);
}
errc open_code(const bytes& file, const pthsafe::load_options& o = {}) {
  return pthsafe::checkpoint::open_buffer(file, o).code();
}
bool scan_has(const pthsafe::scan_report& r, std::string_view rule) {
  for (const auto& f : r.findings)
    if (f.rule == rule) return true;
  return false;
}

}  // namespace

TEST_CASE("version record: exactly what torch's std::stoull reads, then 1..10") {
  using pthsafe::detail::torch_stoull;
  // Accepted by torch 1.13 and 2.15 (checked): whitespace first, a sign, text after the digits,
  // a NUL ending the C string, a '-' wrapping modulo 2^64.
  CHECK(torch_stoull("3") == 3u);
  CHECK(torch_stoull(" 3") == 3u);
  CHECK(torch_stoull("\t\v\f\r\n3") == 3u);
  CHECK(torch_stoull("+3") == 3u);
  CHECK(torch_stoull("03") == 3u);
  CHECK(torch_stoull("3abc") == 3u);
  CHECK(torch_stoull("3\n\n") == 3u);
  CHECK(torch_stoull(std::string_view("3\0zz", 4)) == 3u);
  CHECK(torch_stoull("-18446744073709551615") == 1u);
  CHECK(torch_stoull("-1") == UINT64_MAX);
  CHECK(torch_stoull("18446744073709551615") == UINT64_MAX);
  CHECK(torch_stoull("0x3") == 0u);
  // invalid_argument / out_of_range: torch fails the load.
  CHECK_FALSE(torch_stoull(""));
  CHECK_FALSE(torch_stoull("  "));
  CHECK_FALSE(torch_stoull("+-3"));
  CHECK_FALSE(torch_stoull("- 3"));
  CHECK_FALSE(torch_stoull("x3"));
  CHECK_FALSE(torch_stoull(std::string_view("\0" "3", 2)));
  CHECK_FALSE(torch_stoull("18446744073709551616"));
  CHECK_FALSE(torch_stoull("99999999999999999999999"));

  for (const char* ok : {" 3", "3abc", "+3", "3\n\n", "-18446744073709551615", "10"}) {
    CAPTURE(ok);
    auto z = base();
    z.remove("archive/version");
    z.add("archive/version", std::string_view(ok));
    CHECK(open_code(z.build()) == errc::ok);
  }
  for (const char* bad : {"0", "11", "-1", "0x3", "18446744073709551616"}) {
    CAPTURE(bad);
    auto z = base();
    z.remove("archive/version");
    z.add("archive/version", std::string_view(bad));
    CHECK(open_code(z.build()) == errc::bad_version_record);
  }
}

TEST_CASE(".storage_alignment: exactly what CPython's int() accepts on bytes") {
  using pthsafe::detail::python_int_accepts;
  for (std::string_view ok : {"64"sv, " 64\n"sv, "\v64\f"sv, "+64"sv, "-64"sv, "0"sv, "064"sv, "6_4"sv, "6_4_0"sv, "0_0"sv}) {
    CAPTURE(ok);
    CHECK(python_int_accepts(ok));
  }
  for (std::string_view bad : {""sv, " "sv, "abc"sv, "6__4"sv, "64_"sv, "_64"sv, "+_64"sv, "- 64"sv, "+-1"sv, "0x40"sv,
                               "64\0"sv, "\xa0" "64"sv, "\x1c" "64"sv, "64x"sv}) {
    CAPTURE(bad);
    CHECK_FALSE(python_int_accepts(bad));
  }
  // CPython's int_max_str_digits (4300), counted without underscores, leading zeros included.
  CHECK(python_int_accepts(std::string(4300, '1')));
  CHECK_FALSE(python_int_accepts(std::string(4301, '1')));
  CHECK_FALSE(python_int_accepts(std::string(4299, '0') + "12"));
  std::string underscored;
  for (int i = 0; i < 4299; ++i) underscored += "1_";
  CHECK(python_int_accepts(underscored + "1"));

  auto z = base();
  z.add("archive/.storage_alignment", "6_4");
  CHECK(open_code(z.build()) == errc::ok);
  auto bad = base();
  bad.add("archive/.storage_alignment", "64x");
  CHECK(open_code(bad.build()) == errc::bad_storage_alignment_record);
}

TEST_CASE("records are found as miniz finds them: ASCII case folded, nothing else") {
  auto z = base();
  for (auto& r : z.records) {
    if (r.name == "archive/data.pkl") r.name = "archive/Data.PKL";
    if (r.name == "archive/version") r.name = "archive/VERSION";
  }
  z.add("archive/.DATA/VERSION", "3");
  const bytes file = z.build();
  auto a = pthsafe::detail::archive::open(std::as_bytes(std::span(file)), {});
  REQUIRE(a);
  REQUIRE((*a)->find("data.pkl"));
  CHECK((*a)->name(*(*a)->find("data.pkl")) == "archive/Data.PKL");
  CHECK((*a)->find(".data/version"));
  CHECK((*a)->find("DATA/0"));
  CHECK_FALSE((*a)->find("data.pk"));
  CHECK_FALSE((*a)->find("data\\0"));  // '\\' is not '/' to miniz (flags 0)
  CHECK((*a)->has_folder("DATA/"));
  CHECK_FALSE((*a)->has_folder("code/"));
  auto ck = pthsafe::checkpoint::open_buffer(file);
  REQUIRE(ck);
  CHECK(ck->tensor_count() == 1);
  // Only ASCII letters fold (MZ_TOLOWER): 'É' and 'é' are two names.
  auto u = base();
  u.add("archive/extra/\xc3\x89", "a");
  u.add("archive/extra/\xc3\xa9", "b");
  CHECK(open_code(u.build()) == errc::ok);
}

TEST_CASE("TorchScript is recognised as torch.jit.load recognises it") {
  auto z = base();
  z.add("archive/CONSTANTS.PKL", proto2(")."sv));
  CHECK(open_code(z.build()) == errc::torchscript_archive);
  pthsafe::load_options ts;
  ts.allow_torchscript = true;
  auto ck = pthsafe::checkpoint::open_buffer(z.build(), ts);
  REQUIRE(ck);
  CHECK(ck->format() == pthsafe::container_format::torchscript);
  const auto rep = pthsafe::scan_buffer(z.build());
  CHECK(rep.verdict == pthsafe::verdict::unsafe);
  CHECK(scan_has(rep, "torchscript_archive"));

  for (const char* code : {"archive/code/__torch__/m.py", "archive/CODE/m.py", "archive/cOdE/"}) {
    CAPTURE(code);
    auto c = base();
    // A directory entry ("cOdE/") is empty: one holding data is refused before (zip_bad_name).
    c.add(code, std::string_view(code).back() == '/' ? "" : "x = 1\n");
    CHECK(open_code(c.build()) == errc::torchscript_code);
    CHECK(open_code(c.build(), ts) == errc::ok);  // asked for: code/ is never read
    const auto r = pthsafe::scan_buffer(c.build());
    CHECK(r.verdict == pthsafe::verdict::unsafe);
    CHECK(scan_has(r, "torchscript_code"));
  }
  auto not_code = base();
  not_code.add("archive/codex/m.py", "x = 1\n");
  CHECK(open_code(not_code.build()) == errc::ok);
}

TEST_CASE("top folders: a colon is a name, a bare drive is not") {
  for (const char* root : {"s:42", "model:v2", "a:b:c", "ab:"}) {
    CAPTURE(root);
    CHECK(open_code(base(root).build()) == errc::ok);
  }
  // Written by real torch (tests/fixtures/gen_fixtures.py, fx_colon_in_name: torch.save to a path
  // named "s:42.pth"), torch 2.15 and torch 1.13.
  for (const char* name : {"/colon_in_name.pt", "/t113_colon_in_name.pt"}) {
    CAPTURE(name);
    auto ck = pthsafe::checkpoint::open(std::string(PTHSAFE_FIXTURES) + name);
    REQUIRE(ck);
    CHECK(ck->archive_name() == "s:42");
    CHECK(ck->tensor_count() == 2);
    CHECK(pthsafe::scan_file(std::string(PTHSAFE_FIXTURES) + name).verdict == pthsafe::verdict::safe);
  }
  for (const char* root : {"C:", "c:", "z:"}) {
    CAPTURE(root);
    CHECK(open_code(base(root).build()) == errc::zip_bad_name);
  }
}

TEST_CASE("end records: one choice for miniz, zipfile and libzip") {
  SUBCASE("a comment without a signature is fine") {
    auto z = base();
    z.layout.comment = to_bytes("trained on CIFAR-10");
    CHECK(open_code(z.build()) == errc::ok);
  }
  SUBCASE("an archive in the comment") {
    auto z = base();
    z.layout.comment = base().build();
    z.layout.comment.push_back(std::byte{0});
    CHECK(open_code(z.build()) == errc::zip_eocd_in_comment);
    z.layout.comment.pop_back();  // now its end record ends the file: two candidates
    CHECK(open_code(z.build()) == errc::zip_ambiguous_eocd);
  }
  SUBCASE("a signature in the last 21 bytes (no full record after it)") {
    auto z = base();
    z.layout.comment = to_bytes("PK\5\6");
    CHECK(open_code(z.build()) == errc::zip_eocd_in_comment);
  }
  SUBCASE("a candidate whose comment would overrun the file is no candidate") {
    auto z = base();
    z.add("archive/notes.txt", std::string("PK\5\6", 4) + std::string(16, '\0') + "\xff\xff");
    CHECK(open_code(z.build()) == errc::ok);
  }
  SUBCASE("bytes after the end record") {
    auto z = base();
    z.layout.trailing = to_bytes("tail");
    CHECK(open_code(z.build()) == errc::zip_trailing_data);
  }
}

TEST_CASE("byteorder 'big': loaded as torch >= 2.1 reads it, and a scan warns") {
  auto z = base();
  z.remove("archive/byteorder");
  z.add("archive/BYTEORDER", "big");
  const bytes file = z.build();
  auto ck = pthsafe::checkpoint::open_buffer(file);
  REQUIRE(ck);
  CHECK(ck->big_endian());
  const auto rep = pthsafe::scan_buffer(file);
  CHECK(rep.verdict == pthsafe::verdict::safe);
  CHECK(scan_has(rep, "byteorder_version_dependent"));
  const auto little = pthsafe::scan_buffer(base().build());
  CHECK_FALSE(scan_has(little, "byteorder_version_dependent"));
}

TEST_CASE("data/<n> records and storage keys: found by position exactly as by name") {
  // Small decimal names go to an array (util/dense_ids.hpp), every other name to the hash index;
  // lookups must not tell the difference.
  auto z = base();
  z.add("archive/DATA/7", "x");
  z.add("archive/data/05", "y");
  z.add("archive/data/123456789", "z");  // past the entry count: hashed
  const bytes file = z.build();
  auto a = pthsafe::detail::archive::open(std::as_bytes(std::span(file)), {});
  REQUIRE(a);
  REQUIRE((*a)->find("data/7"));
  CHECK((*a)->name(*(*a)->find("data/7")) == "archive/DATA/7");
  CHECK((*a)->find("Data/7"));
  REQUIRE((*a)->find("data/05"));
  CHECK((*a)->name(*(*a)->find("data/05")) == "archive/data/05");
  CHECK_FALSE((*a)->find("data/5"));  // "05" is another name than "5"
  REQUIRE((*a)->find("data/123456789"));
  CHECK((*a)->name(*(*a)->find("data/123456789")) == "archive/data/123456789");
  CHECK_FALSE((*a)->find("data/6"));
  CHECK_FALSE((*a)->find("data/-1"));
  CHECK((*a)->find("data/0"));

  // Duplicates among position-indexed names are refused as the hash index refuses them.
  for (const char* second : {"archive/data/3", "archive/DATA/3", "ARCHIVE/data/3"}) {
    CAPTURE(second);
    auto d = base();
    d.add("archive/data/3", "a");
    d.add(second, "b");
    CHECK(open_code(d.build()) == errc::zip_duplicate_name);
  }

  // Storage keys: "05" (hashed) and "5" (by position) are two storages with two records.
  tensor_spec t5, t05;
  t5.key = "a";
  t5.storage_key = "5";
  t5.shape = {2};
  t05.key = "b";
  t05.storage_key = "05";
  t05.shape = {3};
  const bytes two = torch_checkpoint(state_dict_pickle({t5, t05}), {{"5", float32_ramp(2)}, {"05", float32_ramp(3)}}).build();
  auto ck = pthsafe::checkpoint::open_buffer(two);
  REQUIRE(ck);
  CHECK(ck->storage_count() == 2);
  // A key whose record is missing is reported whichever index holds the names.
  const bytes missing = torch_checkpoint(state_dict_pickle({t5}), {{"05", float32_ramp(2)}}).build();
  CHECK(open_code(missing) == errc::missing_record);
}

namespace {

// The central header of the entry whose name ends with `suffix` (offset of its signature).
std::size_t central_header(const bytes& z, std::string_view suffix) {
  const std::string_view text(reinterpret_cast<const char*>(z.data()), z.size());
  for (std::size_t at = text.find("PK\x01\x02"sv); at != std::string_view::npos; at = text.find("PK\x01\x02"sv, at + 1)) {
    const std::size_t name_len = std::to_integer<std::size_t>(z[at + 28]) | (std::to_integer<std::size_t>(z[at + 29]) << 8);
    const std::string_view name = text.substr(at + 46, name_len);
    if (name.size() >= suffix.size() && name.substr(name.size() - suffix.size()) == suffix) return at;
  }
  return std::string_view::npos;
}

}  // namespace

TEST_CASE("central fields one reader refuses are refused: version needed above 6.3 (zipfile), disk 0xffff (miniz)") {
  const bytes good = base().build();
  REQUIRE(open_code(good) == errc::ok);
  const std::size_t at = central_header(good, "data.pkl");
  REQUIRE(at != std::string_view::npos);
  // CPython's zipfile raises NotImplementedError("zip file version 6.4") for extract_version > 63.
  for (const int version : {63, 64, 0x3f + 0x100 * 3, 0x40 + 0x100 * 3}) {
    CAPTURE(version);
    bytes z = good;
    z[at + 6] = static_cast<std::byte>(version & 0xff);
    z[at + 7] = static_cast<std::byte>(version >> 8);
    const bool refused = (version & 0xff) > 63;
    CHECK(open_code(z) == (refused ? errc::zip_bad_central_entry : errc::ok));
    CHECK(pthsafe::scan_buffer(z).verdict == (refused ? pthsafe::verdict::malformed : pthsafe::verdict::safe));
  }
  // miniz refuses disk 0xffff ("unsupported multidisk archive") with or without zip64 fields.
  for (const int disk : {1, 0xffff}) {
    CAPTURE(disk);
    bytes z = good;
    z[at + 34] = static_cast<std::byte>(disk & 0xff);
    z[at + 35] = static_cast<std::byte>(disk >> 8);
    CHECK(open_code(z) == errc::zip_bad_central_entry);
    CHECK(scan_has(pthsafe::scan_buffer(z), "zip_bad_central_entry"));
  }
}

TEST_CASE("libzip's per-entry memory is charged to max_tree_bytes before libzip opens") {
  auto z = base();
  for (int i = 0; i < 300; ++i) z.add("archive/extra/" + std::to_string(i), "");
  const bytes file = z.build();
  pthsafe::load_options small;
  small.limits.max_tree_bytes = 128 * 512;  // libzip may hold 128 entries
  CHECK(open_code(file) == errc::ok);
  // The gate opens libzip on every archive: refused with the limit, not judged safe.
  const auto rep = pthsafe::scan_buffer(file, small);
  CHECK(rep.verdict != pthsafe::verdict::safe);
  CHECK(scan_has(rep, "limit_exceeded"));
  CHECK(pthsafe::scan_buffer(file).verdict == pthsafe::verdict::safe);  // 304 entries: within the default
  const auto opened = pthsafe::detail::archive::open(std::span<const std::byte>(file.data(), file.size()), small.limits,
                                                     pthsafe::detail::zip_check::libzip_always);
  REQUIRE(!opened);
  CHECK(opened.error_value().code == errc::limit_exceeded);
  CHECK(pthsafe::detail::archive::libzip_agrees(std::span<const std::byte>(file.data(), file.size()), small.limits).code() ==
        errc::limit_exceeded);
}
