// pthsafe/report.hpp - every report pthsafe writes: the inspect tree (text), the canonical JSON
// description of a checkpoint (spec: docs/inspect-json.md), tensor digests, and scan reports as
// JSON and SARIF. All are bounded: a small file cannot ask for unbounded output.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "pthsafe/checkpoint.hpp"
#include "pthsafe/error.hpp"
#include "pthsafe/export.hpp"
#include "pthsafe/resume.hpp"
#include "pthsafe/scan.hpp"

namespace pthsafe {

/// The `pthsafe inspect` tree of `ck`: one line per value ("<indent><path>: <description>\n"),
/// tensors with dtype, shape, device and bytes, then one "total: ..." line. Each line is passed
/// to `write` as soon as it is made. A memo-shared subtree is printed once per path that reaches
/// it, so the tree is bounded: at most checkpoint::output_budget() bytes and 2^20 lines (the
/// total line not counted). Past either the lines that fit have been written and the call fails
/// with limit_exceeded. Works in every load_mode (it reads no tensor bytes).
PTHSAFE_API result<void> inspect_text(const checkpoint& ck, const std::function<void(std::string_view)>& write);
/// The same tree as one string (nothing of it on failure).
PTHSAFE_API result<std::string> inspect_text(const checkpoint& ck);

/// The training summary as `pthsafe inspect` prints it above the tree: "training checkpoint:"
/// then one indented line per section (progress, metrics, versions, model, each optimizer with
/// one line per param group, schedulers, scalers); long lists are cut after 8 entries.
PTHSAFE_API std::string training_text(const training_summary& s);

/// The `pthsafe inspect --json` document for `ck`: {"format","byteorder","root"}, plus
/// "training" (the training summary) when summarize_training(ck).is_training(). Tensor
/// digests need the bytes, so `ck` must not be in load_mode::metadata when `with_digests`.
/// Shared subtrees are written once per reference; the walk is bounded by
/// limits::max_walk_nodes. Errors: limit_exceeded.
PTHSAFE_API result<std::string> inspect_json(const checkpoint& ck, bool with_digests = true);

/// SHA-256 of a tensor's elements in row-major logical order, little-endian, with the
/// conjugate and negative bits applied (docs/inspect-json.md "sha256"). Empty string when the
/// tensor has no loaded bytes.
PTHSAFE_API std::string tensor_sha256(const tensor_view& t);

/// The JSON document of one scan report (used by `pthsafe scan --json`).
PTHSAFE_API std::string scan_report_json(const std::string& path, const scan_report& r);

}  // namespace pthsafe

namespace pthsafe {

/// One scanned file, for sarif_log.
struct scanned_file {
  std::string path;
  scan_report report;
};

/// A SARIF 2.1.0 log of scan results (one run, tool "pthsafe", one rule per rule id seen, one
/// result per error or warning finding) in the shape GitHub code scanning accepts.
PTHSAFE_API std::string sarif_log(const std::vector<scanned_file>& files);

}  // namespace pthsafe
