// pthsafe/json.hpp - the canonical JSON description of a checkpoint (spec: inspect-json.md).
#pragma once

#include <string>

#include "pthsafe/checkpoint.hpp"
#include "pthsafe/error.hpp"
#include "pthsafe/scan.hpp"

namespace pthsafe {

/// The `pthsafe inspect --json` document for `ck`: {"format","byteorder","root"}. Tensor
/// digests need the bytes, so `ck` must not be in load_mode::metadata when `with_digests`.
/// Shared subtrees are written once per reference; the walk is bounded by
/// limits::max_walk_nodes. Errors: limit_exceeded.
result<std::string> inspect_json(const checkpoint& ck, bool with_digests = true);

/// SHA-256 of a tensor's elements in row-major logical order, little-endian, with the
/// conjugate and negative bits applied (inspect-json.md "sha256"). Empty string when the
/// tensor has no loaded bytes.
std::string tensor_sha256(const tensor_view& t);

/// The JSON document of one scan report (used by `pthsafe scan --json`).
std::string scan_report_json(const std::string& path, const scan_report& r);

}  // namespace pthsafe
