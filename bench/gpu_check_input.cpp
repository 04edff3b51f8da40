// The GPU check's input without torch (scripts/gpu-check.sh, docs/cuda.md): a float16
// state_dict (collections.OrderedDict "layer{i}.weight" -> 8192 x 8192 tensors, 128 MiB each;
// the last one fewer rows when the size is not a multiple of 128 MiB) written with pthsafe's
// writer, which produces what torch.save would for the same tensors.
// Memory stays at about 128 MiB: every tensor's storage is a window of one shared buffer,
// shifted by one element per tensor, so each has its own storage record.
// Usage: pthsafe_gpu_check_input OUT.pt SIZE_MIB   (rounded down to whole 16 KiB rows)
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "pthsafe/save.hpp"

int main(int argc, char** argv) {
  using namespace pthsafe;
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s OUT.pt SIZE_MIB\n", argv[0]);
    return 2;
  }
  const std::int64_t cols = 8192;
  const std::int64_t row_bytes = cols * 2;
  const std::int64_t total = static_cast<std::int64_t>(std::strtod(argv[2], nullptr) * 1048576.0);
  std::int64_t rows_left = total / row_bytes;
  if (rows_left <= 0) {
    std::fprintf(stderr, "SIZE_MIB must be at least one row (%lld bytes)\n", static_cast<long long>(row_bytes));
    return 2;
  }
  const std::int64_t full_rows = 8192;
  const std::int64_t tensors = (rows_left + full_rows - 1) / full_rows;
  // float16 values in [-2, 2): sign, exponent 13..15 (finite, normal), a random mantissa.
  std::vector<std::uint16_t> buf(static_cast<std::size_t>(full_rows * cols + tensors));
  std::uint64_t s = 0x9e3779b97f4a7c15ULL;
  for (auto& h : buf) {
    s ^= s << 13; s ^= s >> 7; s ^= s << 17;
    const auto r = static_cast<std::uint16_t>(s >> 32);
    h = static_cast<std::uint16_t>((r & 0x83ffU) | (static_cast<std::uint16_t>(13 + (r >> 10) % 3) << 10));
  }
  auto root = save_value::ordered_dict();
  for (std::int64_t i = 0; i < tensors; ++i) {
    const std::int64_t rows = rows_left < full_rows ? rows_left : full_rows;
    rows_left -= rows;
    save_tensor t;
    t.type = dtype::float16;
    t.shape = {rows, cols};
    t.storage = std::as_bytes(std::span<const std::uint16_t>(buf.data() + i, static_cast<std::size_t>(rows * cols)));
    root.set("layer" + std::to_string(i) + ".weight", save_value(std::move(t)));
  }
  auto r = save(root, argv[1]);
  if (!r) {
    std::fprintf(stderr, "%s\n", r.error_value().to_string().c_str());
    return 1;
  }
  return 0;
}
