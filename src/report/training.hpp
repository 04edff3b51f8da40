// The training summary (pthsafe/resume.hpp) as the "training" object of inspect --json
// (docs/inspect-json.md); the text form is training_text in pthsafe/report.hpp.
#pragma once

#include "pthsafe/resume.hpp"
#include "util/json.hpp"

namespace pthsafe::detail {

/// Writes the object (the value of the "training" field).
void write_training_json(json_writer& w, const training_summary& s);

}  // namespace pthsafe::detail
