// Container detection (core/container, core/tar_probe) and how the gate judges pickle streams
// it cannot classify: issue 9 §2 (tar as CPython's tarfile opens it), §6 (legacy magic by value,
// storage records that look like pickles), issue 16 §2 (unclassified files still scanned).
#include <doctest/doctest.h>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

#include "load/container.hpp"
#include "load/tar_probe.hpp"
#include "pthsafe/pthsafe.hpp"
#include "support/pickle_builder.hpp"

using namespace pthsafe_test;
using pthsafe::errc;
using namespace std::string_view_literals;

namespace {

std::vector<std::byte> file_bytes(const char* name) {
  std::ifstream in(std::string(PTHSAFE_FIXTURES) + "/" + name, std::ios::binary);
  std::vector<char> c((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  REQUIRE(!c.empty());
  std::vector<std::byte> b(c.size());
  std::memcpy(b.data(), c.data(), c.size());
  return b;
}

bytes from(std::string_view s) { return bytes(reinterpret_cast<const std::byte*>(s.data()), reinterpret_cast<const std::byte*>(s.data()) + s.size()); }

// A 512-byte V7 header: name, mode 0644, size 0, type '0', and `chk` written into the checksum
// field after the sums are computed (chk receives unsigned and signed sum).
struct v7 {
  unsigned char b[512] = {};
  v7() {
    std::memcpy(b, "member", 6);
    std::memcpy(b + 100, "0000644", 8);
    std::memcpy(b + 124, "00000000000", 12);
    b[156] = '0';
  }
  std::int64_t sum(bool is_signed) const {
    std::int64_t s = 256;
    for (int i = 0; i < 512; ++i)
      if (i < 148 || i >= 156) s += is_signed ? static_cast<std::int8_t>(b[i]) : b[i];
    return s;
  }
  v7& field(std::size_t at, std::string_view text) {
    std::memset(b + at, 0, 8);
    std::memcpy(b + at, text.data(), text.size());
    return *this;
  }
  bool opens() const {
    bytes f(reinterpret_cast<const std::byte*>(b), reinterpret_cast<const std::byte*>(b) + 512);
    return pthsafe::detail::tarfile_would_open(f);
  }
};

std::string octal(std::int64_t v) {
  std::string s;
  const bool neg = v < 0;
  std::uint64_t u = neg ? static_cast<std::uint64_t>(-v) : static_cast<std::uint64_t>(v);
  do { s.insert(s.begin(), static_cast<char>('0' + u % 8)); u /= 8; } while (u);
  return neg ? "-" + s : s;
}

pthsafe::scan_report scan(const bytes& b) { return pthsafe::scan_buffer(b); }
bool has_rule(const pthsafe::scan_report& r, std::string_view rule) {
  for (const auto& f : r.findings)
    if (f.rule == rule) return true;
  return false;
}

// pickle.dumps(0x1950a86a20f9469cfc6c, protocol=2) without its PROTO: LONG1 of 10 bytes, STOP.
constexpr std::string_view magic_long1 = "\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19."sv;

}  // namespace

TEST_CASE("tar probe: the checksum field is read as tarfile.nti reads it") {
  v7 h;
  const auto u = h.sum(false);
  CHECK(h.field(148, octal(u)).opens());                       // what tarfile writes (less padding)
  CHECK(h.field(148, " " + octal(u) + " ").opens());           // whitespace around
  CHECK(h.field(148, "\x1c" + octal(u)).opens());              // str.strip() strips \x1c too
  CHECK(h.field(148, "0o" + octal(u)).opens());                // int(s, 8) takes the 0o prefix
  CHECK(h.field(148, "+" + octal(u)).opens());
  const std::string o = octal(u);
  CHECK(h.field(148, o.substr(0, 1) + "_" + o.substr(1)).opens());  // one underscore between digits
  CHECK_FALSE(h.field(148, o.substr(0, 1) + "__" + o.substr(1)).opens());
  CHECK_FALSE(h.field(148, "_" + o).opens());
  CHECK_FALSE(h.field(148, o + "_").opens());
  CHECK_FALSE(h.field(148, octal(u + 1)).opens());
  CHECK_FALSE(h.field(148, "0x" + o).opens());
  CHECK_FALSE(h.field(148, "- " + o).opens());
  {
    // Base-256: 0o200 then 7 big-endian bytes.
    v7 g;
    g.b[148] = 0x80;
    for (int i = 0; i < 7; ++i) g.b[149 + i] = static_cast<unsigned char>(g.sum(false) >> (8 * (6 - i)));
    CHECK(g.opens());
    g.b[155] ^= 1;
    CHECK_FALSE(g.opens());
  }
}

TEST_CASE("tar probe: signed sums, empty archives, other numeric fields") {
  v7 h;
  h.b[10] = 0xff;  // a high byte: signed and unsigned sums differ
  h.b[11] = 0xfe;
  CHECK(h.sum(true) != h.sum(false));
  CHECK(h.field(148, octal(h.sum(true))).opens());
  CHECK(h.field(148, octal(h.sum(false))).opens());
  {
    v7 neg;  // enough high bytes for a negative signed sum: "-NNN" is what int() reads
    std::memset(neg.b + 160, 0xff, 90);
    std::memset(neg.b + 200, 0x80, 40);
    REQUIRE(neg.sum(true) < 0);
    CHECK(neg.field(148, octal(neg.sum(true))).opens());
  }
  // All NUL: tarfile swallows the end-of-archive error at offset 0 and opens an empty archive.
  bytes zero(512, std::byte{0});
  CHECK(pthsafe::detail::tarfile_would_open(zero));
  CHECK_FALSE(pthsafe::detail::tarfile_would_open(bytes(511, std::byte{0})));  // truncated header
  // frombuf parses mode/uid/gid/size/mtime/devmajor/devminor: one invalid field and it raises.
  v7 bad;
  bad.field(100, "0000948");
  CHECK_FALSE(bad.field(148, octal(bad.sum(false))).opens());
  v7 bad_dev;
  bad_dev.field(337, "x");
  CHECK_FALSE(bad_dev.field(148, octal(bad_dev.sum(false))).opens());
  v7 b256_mode;  // base-256 numeric fields are always valid
  b256_mode.b[108] = 0xff;
  CHECK(b256_mode.field(148, octal(b256_mode.sum(false))).opens());
  // Old GNU sparse headers: the sparse structs are parsed too.
  v7 sparse;
  sparse.b[156] = 'S';
  CHECK(sparse.field(148, octal(sparse.sum(false))).opens());
  sparse.b[386] = 'z';
  CHECK_FALSE(sparse.field(148, octal(sparse.sum(false))).opens());
}

TEST_CASE("container detection: tar wins over the pickle the same bytes are") {
  // PROTO 3, BINBYTES(rest), STOP: a complete pickle whose first block is also a V7 header.
  pickle_writer w;
  bytes body(600, std::byte{0});
  w.proto(3).op(pk::BINBYTES).u32(static_cast<std::uint32_t>(body.size())).raw(body).stop();
  bytes f = w.take();
  auto* b = reinterpret_cast<unsigned char*>(f.data());
  std::memcpy(b + 100, "0000644", 8);
  std::memcpy(b + 124, "00000000000", 12);
  b[156] = '0';
  std::int64_t s = 256;
  for (int i = 0; i < 512; ++i)
    if (i < 148 || i >= 156) s += b[i];
  const std::string o = octal(s);
  std::memcpy(b + 148, o.data(), o.size());
  pthsafe::load_options opts;
  CHECK(pthsafe::detail::detect_container(f, opts).kind == pthsafe::detail::container_kind::tar);
  auto ck = pthsafe::checkpoint::open_buffer(f);
  REQUIRE_FALSE(ck);
  CHECK(ck.error_value().code == errc::tar_format);
  const auto r = scan(f);
  CHECK(r.verdict == pthsafe::verdict::unsafe);
  CHECK(r.format == "tar");
  CHECK(has_rule(r, "tar_format"));
  // One checksum digit off: no reader opens it as tar, and it is the bare pickle it also is.
  b[148 + o.size() - 1] ^= 1;
  CHECK(pthsafe::detail::detect_container(f, opts).kind == pthsafe::detail::container_kind::pickle);
  CHECK(scan(f).verdict == pthsafe::verdict::safe);
}

TEST_CASE("legacy magic number: recognised by its unpickled value, in every encoding") {
  pthsafe::load_options opts;
  // Each of these unpickles (CPython's pickle and _pickle) to 0x1950a86a20f9469cfc6c.
  const std::string_view encodings[] = {
      "\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19."sv,  // protocol 2 (torch)
      magic_long1,                                                       // no PROTO
      "L119547037146038801333356L\n."sv,                                 // protocols 0/1 (torch)
      "I119547037146038801333356\n."sv,                                  // text INT
      "\x8a\x0b\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19\x00."sv,         // 11-byte LONG1
      "\x8b\x0a\x00\x00\x00\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19."sv, // LONG4
      "\x80\x04\x95\x0d\x00\x00\x00\x00\x00\x00\x00\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19\x94."sv,  // protocol 4 (torch)
      "N0\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19p0\n0g0\n."sv,  // through the memo
  };
  for (const auto e : encodings) {
    CAPTURE(e);
    const auto id = pthsafe::detail::detect_container(from(e), opts);
    CHECK(id.kind == pthsafe::detail::container_kind::pickle);
    CHECK(id.legacy);
    CHECK(pthsafe::detail::legacy_magic_end(from(e), opts) == e.size());
  }
  // Other values are not the magic: one more, a float, a string of its digits.
  for (const auto e : {"\x8a\x0a\x6d\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19."sv, "F1.1954703714603880e+23\n."sv,
                       "\x80\x02X\x18\x00\x00\x00" "119547037146038801333356."sv}) {
    CAPTURE(e);
    CHECK_FALSE(pthsafe::detail::detect_container(from(e), opts).legacy);
  }
  // A magic pickle longer than the probe's window is no legacy stream (and a load refuses it).
  pickle_writer w;
  w.proto(2).binunicode(std::string(pthsafe::detail::legacy_magic_window, 'x')).pop().raw(magic_long1);
  CHECK_FALSE(pthsafe::detail::detect_container(w.take(), opts).legacy);
}

TEST_CASE("legacy streams load whatever encoding their magic number has") {
  // torch's legacy.pt with its protocol-2 magic pickle replaced: the same checkpoint to torch.
  const auto good = file_bytes("legacy.pt");
  const std::string_view torch_magic = "\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19."sv;
  REQUIRE(std::memcmp(good.data(), torch_magic.data(), torch_magic.size()) == 0);
  auto expected = pthsafe::checkpoint::open_buffer(good);
  REQUIRE(expected);
  for (const auto e : {magic_long1, "L119547037146038801333356L\n."sv,
                       "\x8a\x0b\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19\x00."sv}) {
    CAPTURE(e);
    bytes f = from(e);
    f.insert(f.end(), good.begin() + static_cast<std::ptrdiff_t>(torch_magic.size()), good.end());
    auto ck = pthsafe::checkpoint::open_buffer(f);
    REQUIRE(ck);
    CHECK(ck->format() == pthsafe::container_format::legacy);
    CHECK(ck->tensor_count() == expected->tensor_count());
    CHECK(scan(f).verdict == pthsafe::verdict::safe);
  }
}

TEST_CASE("torch-written legacy streams in pickle protocols 1 to 5 load") {
  for (const char* name : {"legacy_proto1.pt", "legacy_proto3.pt", "legacy_proto4.pt", "legacy_proto5.pt",
                           "t113_legacy_proto1.pt", "t113_legacy_proto4.pt", "t113_legacy_proto5.pt"}) {
    CAPTURE(name);
    const auto f = file_bytes(name);
    auto ck = pthsafe::checkpoint::open_buffer(f);
    REQUIRE(ck);
    CHECK(ck->format() == pthsafe::container_format::legacy);
    CHECK(ck->tensor_count() > 0);
    const auto r = scan(f);
    CHECK(r.verdict == pthsafe::verdict::safe);
    CHECK(r.format == "legacy");
    const bool text_or_framed = std::string_view(name).find("proto3") == std::string_view::npos;
    CHECK(has_rule(r, "torch_refuses_opcode") == text_or_framed);  // protocol 1 text ops, 4/5 FRAME
  }
}

TEST_CASE("scan: a legacy stream without PROTO hides no payload") {
  // Issue 16 §2: magic as LONG1 without PROTO, then protocol, sys_info and a payload pickle.
  pickle_writer w;
  w.raw(magic_long1);
  w.proto(2).integer(1001).stop();
  w.proto(2).empty_dict().stop();
  w.proto(2).global("os", "system").binunicode("echo").tuple1().reduce().stop();
  const bytes f = w.take();
  auto ck = pthsafe::checkpoint::open_buffer(f);
  REQUIRE_FALSE(ck);
  CHECK(ck.error_value().code == errc::pickle_global_blocked);
  const auto r = scan(f);
  CHECK(r.verdict == pthsafe::verdict::unsafe);
  CHECK(r.format == "legacy");
}

TEST_CASE("scan: an unclassified file is still judged pickle after pickle") {
  // 0x8a starts no pickle a pickler writes and 5 is not the magic: not a checkpoint, but a
  // pickle.load loop reads LONG1 5, STOP, then the payload.
  pickle_writer w;
  w.raw("\x8a\x01\x05."sv);
  w.proto(2).empty_dict().stop();
  w.proto(2).global("subprocess", "Popen").binunicode("echo").tuple1().reduce().stop();
  const bytes f = w.take();
  auto ck = pthsafe::checkpoint::open_buffer(f);
  REQUIRE_FALSE(ck);
  CHECK(ck.error_value().code == errc::not_a_checkpoint);
  const auto r = scan(f);
  CHECK(r.verdict == pthsafe::verdict::unsafe);
  CHECK(has_rule(r, "not_a_checkpoint"));
  // A bare pickle followed by another one: the second is judged too (unsafe wins).
  pickle_writer b;
  b.proto(2).empty_dict().stop();
  b.raw("\x8a\x01\x05."sv);  // a further pickle starting with no pickler's first byte
  b.proto(2).global("os", "system").binunicode("echo").tuple1().reduce().stop();
  CHECK(scan(b.take()).verdict == pthsafe::verdict::unsafe);
  // Past the pickle budget the rest is still walked for globals.
  pickle_writer many;
  for (int i = 0; i < 70; ++i) many.proto(2).none().stop();
  many.proto(2).global("os", "system").binunicode("echo").tuple1().reduce().stop();
  const auto rm = scan(many.take());
  CHECK(rm.verdict == pthsafe::verdict::unsafe);
  CHECK(has_rule(rm, "limit_exceeded"));
}

TEST_CASE("scan: storage records whose bytes form pickles are data") {
  for (const char* name : {"storage_pickle_like.pt", "t113_storage_pickle_like.pt"}) {
    CAPTURE(name);
    const auto r = scan(file_bytes(name));
    CHECK(r.verdict == pthsafe::verdict::safe);
    CHECK(r.findings.empty());
  }
}
