// pthsafe/verify.hpp - integrity of a checkpoint file: the whole structure as the gate judges
// it, plus the CRC-32 of every record of a zip container, each corrupted record named.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "pthsafe/error.hpp"
#include "pthsafe/export.hpp"
#include "pthsafe/options.hpp"
#include "pthsafe/scan.hpp"

namespace pthsafe {

/// One record whose bytes do not match the CRC-32 the central directory records for it (or,
/// deflated, do not inflate).
struct corrupt_record {
  errc code = errc::zip_crc_mismatch;  ///< zip_crc_mismatch, zip_inflate_failed or zip_inflate_limit
  std::string record;        ///< full record name ("model/data/3")
  std::uint64_t offset = 0;  ///< where its data starts in the file
  std::string message;       ///< one line (the CRC found and the CRC recorded)
};

struct verify_report {
  /// The gate's judgement of the whole file (scan_file), with every corrupted record added as a
  /// finding (its code as the rule); the verdict is malformed when a record is corrupted, unless
  /// the scan found the file unsafe (unsafe wins).
  scan_report scan;
  /// Every corrupted record, in central-directory order.
  std::vector<corrupt_record> corrupt;
  /// Records whose CRC was checked (0 when the file is not a zip, or its directory is broken:
  /// the scan's findings then say why).
  std::size_t records_checked = 0;
};

/// Verifies a file. Never fails: an unreadable file is reported malformed. Reads every record's
/// bytes once (deflated records are inflated within opts.limits).
PTHSAFE_API verify_report verify_file(const std::string& path, const load_options& opts = {});

}  // namespace pthsafe
