// Whether libzip's comparison of a local and a central modification time is a function of the
// file. libzip 1.7 (the parser of record) converts both DOS times with mktime in the process's
// time zone (tm_isdst = -1) and, under ZIP_CHECKCONS, refuses an entry whose two results differ.
// For a clock time that the zone repeats (daylight saving ends) or skips (it begins), glibc's
// mktime answers from a guess that its previous call left behind, so byte-equal times can
// compare unequal and the same file opens on one run and is refused on the next (bench/NOTES.md
// 43-44, docs/zip.md). Elsewhere the conversion has one answer and the comparison is stable.
#pragma once

#include <cstdint>

namespace pthsafe::detail {

/// A DOS modification time and date, as zip headers store them.
struct dos_stamp {
  std::uint16_t time = 0;
  std::uint16_t date = 0;
  friend bool operator==(const dos_stamp&, const dos_stamp&) = default;
};

/// Answers "is this stamp one clock time that occurs exactly once in the process's time zone"
/// (read as libzip reads it, out-of-range fields normalised as mktime does). It reads the zone
/// through localtime_r only, so its answer does not depend on earlier calls; the zone is the one
/// mktime would use (TZ is read again on construction). Remembers its last answer: the entries
/// of an archive usually share one stamp (torch writes 1980-00-00 00:00 for all). Not shared
/// between threads.
class stable_clock_times {
 public:
  stable_clock_times();
  bool stable(dos_stamp s);

 private:
  dos_stamp last_{};
  bool last_stable_ = false;
  bool have_last_ = false;
};

}  // namespace pthsafe::detail
