// The gate with its libzip timing chosen (internal; for the differential tests and fuzz_scan).
#pragma once

#include "io/source.hpp"
#include "pthsafe/scan.hpp"
#include "zip/archive.hpp"

namespace pthsafe::detail {

/// scan_file / scan_buffer with libzip run as `check` says. scan_* use libzip_after_load;
/// libzip_always (libzip before the load, the earlier order) must give the same report on every
/// input: fuzz/fuzz_scan.cpp and tests/zip/test_page_release.cpp compare them.
scan_report scan_source(const source& src, const load_options& opts, zip_check check = zip_check::libzip_after_load);

}  // namespace pthsafe::detail
