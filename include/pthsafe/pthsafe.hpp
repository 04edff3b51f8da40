// pthsafe - load PyTorch checkpoints without running pickle.
//
// What a torch checkpoint is (docs/format.md has the long form):
//  1. A zip archive (torch >= 1.6) whose entries all live under one top folder `<name>/`, every
//     record stored uncompressed and 64-byte aligned: `data.pkl`, `version`, `byteorder`
//     (>= 2.1), `.format_version` / `.storage_alignment` (>= 2.7), `data/<key>` per storage.
//  2. `data.pkl` is a pickle (protocol 2) of the saved object. Tensors appear as calls to
//     allowlisted rebuild functions (`torch._utils._rebuild_tensor_v2(storage, offset, size,
//     stride, requires_grad, hooks)`), never as code.
//  3. Each storage is a persistent id `('storage', <storage class>, key, location, numel)`;
//     its bytes are record `data/<key>`, numel * itemsize long, in the writer's byte order.
//  4. torch.load(weights_only=True) executes only an allowlist of opcodes and globals. pthsafe
//     interprets that same allowlist (plus data-only opcodes, see policy) without calling
//     anything: every allowed global becomes an enum that the rebuild layer interprets.
//  5. Every view is validated against its storage before it exists; then the storages are placed
//     (copied into aligned buffers, or mapped zero-copy) and views handed out.
// Also read: legacy 0.1.10-1.5 streams (five pickles, then size-prefixed little-endian storages),
// big-endian files (swapped on load), quantized, sparse (every invariant checked), meta, wrapper
// subclass and device tensors, and, only on request (load_options::allow_torchscript), the
// tensors of TorchScript archives. docs/format.md has the rules.
//
// Minimal use:
//   auto ck = pthsafe::checkpoint::open("model.pth");
//   if (!ck) { std::fprintf(stderr, "%s\n", ck.error_value().to_string().c_str()); return 2; }
//   auto w = ck->find_tensor("fc.weight");
#pragma once

#include "pthsafe/checkpoint.hpp"
#include "pthsafe/convert.hpp"
#include "pthsafe/diff.hpp"
#include "pthsafe/dtype.hpp"
#include "pthsafe/error.hpp"
#include "pthsafe/export.hpp"
#include "pthsafe/match.hpp"
#include "pthsafe/options.hpp"
#include "pthsafe/safetensors.hpp"
#include "pthsafe/resume.hpp"
#include "pthsafe/scan.hpp"
#include "pthsafe/sharded.hpp"
#include "pthsafe/verify.hpp"
#include "pthsafe/save.hpp"
#include "pthsafe/state_dict.hpp"
#include "pthsafe/tensor.hpp"
#include "pthsafe/value.hpp"

namespace pthsafe {
/// Library version, "MAJOR.MINOR.PATCH".
PTHSAFE_API const char* version() noexcept;
}  // namespace pthsafe
