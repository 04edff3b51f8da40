// Full load from a memory buffer, copy and mmap paths, then the JSON walk over the result;
// the JSON and the error line must be printable (output_checks.hpp). The copy load runs twice,
// with torch's per-tensor template (pickle/tensor_template.hpp) and without it: the two must
// give the same checkpoint or the same error (under default and under tight limits), and the
// gate the same report, or the harness traps. The first run also takes data.pkl's memo walk
// from a second thread (pickle/memo_reads_ahead.hpp) and checks the local headers on another
// beside the name checks (zip/archive.hpp); the second does both in line. It runs on the
// input and, for a zip of stored records, on a copy whose CRCs match the records' bytes, so
// that a mutation inside data.pkl reaches the pickle machine instead of the CRC check.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include <zlib.h>

#include "output_checks.hpp"
#include "pickle/memo_reads_ahead.hpp"
#include "pickle/tensor_template.hpp"
#include "zip/archive.hpp"
#include "pthsafe/report.hpp"
#include "pthsafe/scan.hpp"
#include "pthsafe/pthsafe.hpp"

namespace {

std::string load_outcome(std::span<const std::byte> bytes, pthsafe::load_mode mode, const pthsafe::limits* lim = nullptr) {
  pthsafe::load_options o;
  o.mode = mode;
  o.limits.max_tree_bytes = 64u << 20;
  if (lim) o.limits = *lim;
  auto ck = pthsafe::checkpoint::open_buffer(bytes, o);
  if (!ck) {
    std::string line = ck.error_value().to_string();
    pthsafe::fuzz::check_text(line);
    return "error " + line;
  }
  std::string out;
  if (auto doc = pthsafe::inspect_json(*ck)) {
    pthsafe::fuzz::check_json(*doc);
    out = *doc;
  }
  for (const auto& w : ck->warnings()) out += "\n" + w;
  // The training summary reads any shape: no crash, and its text stays printable.
  pthsafe::fuzz::check_lines(pthsafe::training_text(pthsafe::summarize_training(*ck)));
  return out;
}

void put_le32(std::vector<std::byte>& b, std::uint64_t at, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) b[at + static_cast<std::uint64_t>(i)] = static_cast<std::byte>((v >> (8 * i)) & 0xff);
}

// The input with every stored record's CRC (local and central header) set to its bytes' CRC;
// empty when it is no such zip (or a record has a data descriptor, which holds a third copy).
std::vector<std::byte> with_matching_crcs(std::span<const std::byte> in) {
  auto a = pthsafe::detail::archive::open(in, pthsafe::limits{}, pthsafe::detail::zip_check::strict_when_stored);
  if (!a) return {};
  std::vector<std::byte> out(in.begin(), in.end());
  for (const auto& e : (*a)->entries()) {
    if (e.method != 0 || (e.flags & 8) != 0 || e.data_offset() > in.size() || e.comp_size > in.size() - e.data_offset() ||
        e.comp_size > (1u << 30))
      return {};
    const auto crc = static_cast<std::uint32_t>(crc32(0L, reinterpret_cast<const Bytef*>(in.data() + e.data_offset()),
                                                      static_cast<uInt>(e.comp_size)));
    put_le32(out, e.local_offset + 14, crc);
    put_le32(out, e.central_offset(in) + 16, crc);
  }
  return out;
}

// Limits near what a tensor needs, picked by the input's size, so that the fuzzer meets the
// template's limit checks: tree bytes anywhere up to 64 KiB, a shallow stack, nesting 2, few
// memo entries.
pthsafe::limits tight_limits(std::size_t size) {
  pthsafe::limits l;
  switch (size % 4) {
    case 0: l.max_tree_bytes = 1024 + (size * 7919) % 65536; break;
    case 1: l.max_stack_items = 10 + size % 8; break;
    case 2: l.max_nesting_depth = 2; break;
    default: l.max_memo_entries = 16 + size % 32; break;
  }
  return l;
}

std::string scan_outcome(std::span<const std::byte> bytes) {
  return pthsafe::scan_report_json("input", pthsafe::scan_buffer(bytes));
}

// The load (default and tight limits) and the gate's report, with the template and data.pkl's
// memo walk run ahead on a second thread (whatever the pickle's size), and with neither.
void compare_template(std::span<const std::byte> bytes) {
  const pthsafe::limits tight = tight_limits(bytes.size());
  const std::uint64_t ahead_default = pthsafe::detail::walk_ahead_min_bytes();
  pthsafe::detail::set_walk_ahead_min_bytes(0);
  const std::size_t parallel_default = pthsafe::detail::parallel_local_check_min_entries();
  pthsafe::detail::set_parallel_local_check_min_entries(0);
  const std::string fused = load_outcome(bytes, pthsafe::load_mode::copy) + "\n--\n" +
                            load_outcome(bytes, pthsafe::load_mode::copy, &tight) + "\n--\n" + scan_outcome(bytes);
  pthsafe::detail::set_walk_ahead_min_bytes(UINT64_MAX);
  pthsafe::detail::set_parallel_local_check_min_entries(SIZE_MAX);
  pthsafe::detail::set_tensor_template_enabled(false);
  const std::string general = load_outcome(bytes, pthsafe::load_mode::copy) + "\n--\n" +
                              load_outcome(bytes, pthsafe::load_mode::copy, &tight) + "\n--\n" + scan_outcome(bytes);
  pthsafe::detail::set_tensor_template_enabled(true);
  pthsafe::detail::set_walk_ahead_min_bytes(ahead_default);
  pthsafe::detail::set_parallel_local_check_min_entries(parallel_default);
  if (fused != general) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
  compare_template(bytes);
  (void)load_outcome(bytes, pthsafe::load_mode::mmap);
  const std::vector<std::byte> fixed = with_matching_crcs(bytes);
  if (!fixed.empty() && !std::equal(fixed.begin(), fixed.end(), bytes.begin())) compare_template(fixed);
  return 0;
}
