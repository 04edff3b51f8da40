// Full load from a memory buffer, copy and mmap paths, then the JSON walk over the result;
// the JSON and the error line must be printable (output_checks.hpp).
#include <cstddef>
#include <cstdint>
#include <span>

#include "output_checks.hpp"
#include "pthsafe/report.hpp"
#include "pthsafe/pthsafe.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
  for (auto mode : {pthsafe::load_mode::copy, pthsafe::load_mode::mmap}) {
    pthsafe::load_options o;
    o.mode = mode;
    o.limits.max_tree_bytes = 64u << 20;
    auto ck = pthsafe::checkpoint::open_buffer(bytes, o);
    if (!ck) {
      pthsafe::fuzz::check_text(ck.error_value().to_string());
      continue;
    }
    if (auto doc = pthsafe::inspect_json(*ck)) pthsafe::fuzz::check_json(*doc);
    // The training summary reads any shape: no crash, and its text stays printable.
    pthsafe::fuzz::check_lines(pthsafe::training_text(pthsafe::summarize_training(*ck)));
  }
  return 0;
}
