// The zip layer alone: directory walk, local headers, libzip cross-check, record extraction.
// Differential: whenever archive::open accepts an input, every record (up to 1 MiB) must read the
// same through pthsafe as through libzip's own zip_fopen_index/zip_fread on a separate handle:
// stored records' archive::stored_bytes and deflated records' archive::extract must equal what
// libzip returns; pthsafe's CRC verdict on a stored record must equal zlib's crc32 of its bytes,
// and libzip may not refuse a stored record whose CRC is right. A mismatch traps
// (__builtin_trap), so libFuzzer reports it as a crash. (libzip 1.7 does not check the CRC of an
// empty record: tests/data/regress/zip_empty_stored_bad_crc.zip; pthsafe does.)
// Parity (docs/zip.md): archive::open without libzip (zip_check::strict_when_stored, what a load
// uses) must give exactly the verdict of archive::open with libzip on every input: both accept
// with the same entries and data offsets, or both refuse with the same error code; and the
// load's answer to "may libzip be skipped" is decided_without_libzip's on the same directory.
// The local-header walk on a second thread (beside the name checks, as large directories get
// it) must give exactly the in-line result.
// Time zone (docs/zip.md): libzip's time check follows mktime's previous answer; archive::open
// must not. Each input is opened after mktime answered for a July and for a January time (two
// offsets in any zone with summer time; the replay runs under TZ=Europe/Berlin too) and the
// verdicts must match.
#include <zip.h>
#include <zlib.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <ctime>
#include <span>
#include <vector>

#include "zip/archive.hpp"
#include "zip/directory.hpp"
#include "zip/libzip_parity.hpp"

namespace {

constexpr std::uint64_t max_record = std::uint64_t{1} << 20;  // keep each input cheap

struct libzip_read {
  bool opened = false;      // zip_fopen_index succeeded
  bool complete = false;    // exactly the directory's size, then end of data, CRC checked
  std::vector<std::byte> bytes;
};

// What libzip hands a reader of entry i: every byte zip_fread returns, and whether the read
// ended cleanly (size reached, nothing more, zip_fclose reporting no CRC or consistency error).
libzip_read read_with_libzip(zip_t* z, std::size_t i, std::uint64_t size) {
  libzip_read r;
  zip_file_t* f = zip_fopen_index(z, i, 0);
  if (!f) return r;
  r.opened = true;
  r.bytes.resize(static_cast<std::size_t>(size));
  std::uint64_t done = 0;
  bool failed = false;
  while (done < size) {
    const zip_int64_t got = zip_fread(f, r.bytes.data() + done, size - done);
    if (got <= 0) { failed = true; break; }
    done += static_cast<std::uint64_t>(got);
  }
  r.bytes.resize(static_cast<std::size_t>(done));
  std::byte extra[1];
  const zip_int64_t more = failed ? -1 : zip_fread(f, extra, 1);
  const int rc = zip_fclose(f);
  r.complete = !failed && more == 0 && rc == 0;
  return r;
}

// Leaves glibc's mktime guessing the offset in force at this local time of 2023.
void mktime_last_answered(int month) {
  std::tm tm{};
  tm.tm_isdst = -1;
  tm.tm_year = 123;
  tm.tm_mon = month - 1;
  tm.tm_mday = 15;
  tm.tm_hour = 12;
  (void)std::mktime(&tm);
}

bool same(std::span<const std::byte> a, std::span<const std::byte> b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size()) == 0);
}

bool is_prefix(std::span<const std::byte> prefix, std::span<const std::byte> whole) {
  return prefix.size() <= whole.size() && (prefix.empty() || std::memcmp(prefix.data(), whole.data(), prefix.size()) == 0);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  pthsafe::limits lim;
  lim.max_inflated_bytes = 1u << 24;
  const std::span<const std::byte> file(reinterpret_cast<const std::byte*>(data), size);
  mktime_last_answered(1);
  auto a = pthsafe::detail::archive::open(file, lim);
  {
    mktime_last_answered(7);
    const auto summer = pthsafe::detail::archive::open(file, lim);
    if (static_cast<bool>(a) != static_cast<bool>(summer)) __builtin_trap();
    if (!a && a.error_value().code != summer.error_value().code) __builtin_trap();
  }
  {
    auto fast = pthsafe::detail::archive::open(file, lim, pthsafe::detail::zip_check::strict_when_stored);
    if (static_cast<bool>(a) != static_cast<bool>(fast)) __builtin_trap();
    if (!a && a.error_value().code != fast.error_value().code) __builtin_trap();
    if (a) {
      const auto& ea = (*a)->entries();
      const auto& ef = (*fast)->entries();
      if (ea.size() != ef.size()) __builtin_trap();
      for (std::size_t i = 0; i < ea.size(); ++i)
        if (ea[i].name() != ef[i].name() || ea[i].data_offset() != ef[i].data_offset() || ea[i].comp_size != ef[i].comp_size ||
            ea[i].crc != ef[i].crc)
          __builtin_trap();
    }
    // The load asks the libzip-parity question inside its local-header walk; the separate walk
    // (decided_without_libzip) must give the same answer on the same directory.
    if (fast) {
      auto dir = pthsafe::detail::read_directory(file, lim);
      if (!dir || !pthsafe::detail::check_local_headers(file, *dir)) __builtin_trap();
      const auto decided = pthsafe::detail::decided_without_libzip(file, *dir);
      if (!decided || *decided == (*fast)->libzip_opened()) __builtin_trap();
    }
  }
  {
    // On a large directory archive::open checks the local headers on a second thread beside
    // the name checks. Forced here, it must give exactly the in-line result: the same error
    // line, or the same entries, data offsets, top folder and libzip answer.
    const std::size_t parallel_default = pthsafe::detail::parallel_local_check_min_entries();
    pthsafe::detail::set_parallel_local_check_min_entries(0);
    const auto beside = pthsafe::detail::archive::open(file, lim, pthsafe::detail::zip_check::strict_when_stored);
    pthsafe::detail::set_parallel_local_check_min_entries(SIZE_MAX);
    const auto in_line = pthsafe::detail::archive::open(file, lim, pthsafe::detail::zip_check::strict_when_stored);
    pthsafe::detail::set_parallel_local_check_min_entries(parallel_default);
    if (static_cast<bool>(beside) != static_cast<bool>(in_line)) __builtin_trap();
    if (!beside && beside.error_value().to_string() != in_line.error_value().to_string()) __builtin_trap();
    if (beside) {
      const auto& eb = (*beside)->entries();
      const auto& ei = (*in_line)->entries();
      if (eb.size() != ei.size() || (*beside)->root() != (*in_line)->root() ||
          (*beside)->libzip_opened() != (*in_line)->libzip_opened())
        __builtin_trap();
      for (std::size_t i = 0; i < eb.size(); ++i)
        if (eb[i].data_offset() != ei[i].data_offset()) __builtin_trap();
    }
  }
  if (!a) return 0;

  // libzip on its own handle, opened exactly as pthsafe opens it: it must accept what pthsafe
  // accepted (archive::open already required that of its own handle). pthsafe leaves
  // ZIP_CHECKCONS off only where libzip's time comparison has no stable answer (docs/zip.md).
  zip_error_t zerr;
  zip_error_init(&zerr);
  zip_source_t* src = zip_source_buffer_create(data, size, 0, &zerr);
  const int flags = (*a)->libzip_checked_local() ? ZIP_RDONLY | ZIP_CHECKCONS : ZIP_RDONLY;
  zip_t* z = src ? zip_open_from_source(src, flags, &zerr) : nullptr;
  zip_error_fini(&zerr);
  if (!z) {
    if (src) zip_source_free(src);
    __builtin_trap();
  }

  std::vector<std::byte> buf;
  for (std::size_t i = 0; i < (*a)->entries().size() && i < 64; ++i) {
    const auto& e = (*a)->entries()[i];
    if (e.uncomp_size > max_record || e.comp_size > max_record) continue;
    const libzip_read lz = read_with_libzip(z, i, e.uncomp_size);
    if (e.method == 0) {
      const auto stored = (*a)->stored_bytes(i);
      if (!stored) __builtin_trap();  // a stored record without its bytes
      // Every byte libzip returned is the record's; a complete read is all of it.
      if (!lz.opened || !is_prefix(lz.bytes, *stored)) __builtin_trap();
      if (lz.complete && !same(lz.bytes, *stored)) __builtin_trap();
      // CRC: pthsafe's verdict is zlib's; libzip validates as it reads and may not refuse a
      // record whose CRC is right.
      uLong crc = crc32(0L, Z_NULL, 0);
      if (!stored->empty()) crc = crc32(crc, reinterpret_cast<const Bytef*>(stored->data()), static_cast<uInt>(stored->size()));
      const bool crc_right = static_cast<std::uint32_t>(crc) == e.crc;
      if (static_cast<bool>((*a)->verify_crc(i, lim)) != crc_right) __builtin_trap();
      if (crc_right && !lz.complete) __builtin_trap();
      buf.assign(static_cast<std::size_t>(e.uncomp_size), std::byte{0x5a});
      if (!(*a)->extract(i, buf.data(), lim) || !same(buf, *stored)) __builtin_trap();
    } else {
      if ((*a)->stored_bytes(i)) __builtin_trap();  // only stored records are handed out in place
      buf.assign(static_cast<std::size_t>(e.uncomp_size), std::byte{0x5a});
      const bool ok = static_cast<bool>((*a)->extract(i, buf.data(), lim));
      // pthsafe may refuse more than libzip (it is the stricter reader), never read what libzip
      // cannot, and never read different bytes.
      if (ok && !(lz.opened && lz.complete && same(buf, lz.bytes))) __builtin_trap();
      if (ok != static_cast<bool>((*a)->verify_crc(i, lim))) __builtin_trap();
    }
  }
  zip_discard(z);
  return 0;
}
