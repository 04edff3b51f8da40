#include "zip/dos_time.hpp"

#include <array>
#include <ctime>

namespace pthsafe::detail {
namespace {

// libzip's _zip_d2u_time reads the fields this way; timegm normalises them as mktime would
// (month 0 is December of the year before, minute 63 the next hour). glibc's mktime looks up
// a second above 59 as 59 and adds the rest afterwards (leap seconds), so 02:59:60 is looked
// up as 02:59:59, not 03:00:00: the second is capped here too (red-team finding, NOTES 46).
std::tm fields_of(dos_stamp s) {
  std::tm tm{};
  tm.tm_year = ((s.date >> 9) & 127) + 1980 - 1900;
  tm.tm_mon = ((s.date >> 5) & 15) - 1;
  tm.tm_mday = s.date & 31;
  tm.tm_hour = (s.time >> 11) & 31;
  tm.tm_min = (s.time >> 5) & 63;
  const int sec = (s.time << 1) & 62;
  tm.tm_sec = sec > 59 ? 59 : sec;
  return tm;
}

bool offset_at(std::time_t t, long& off) {
  std::tm tm{};
  if (!::localtime_r(&t, &tm)) return false;
  off = tm.tm_gmtoff;
  return true;
}

}  // namespace

stable_clock_times::stable_clock_times() { ::tzset(); }

bool stable_clock_times::stable(dos_stamp s) {
  if (have_last_ && s == last_) return last_stable_;
  // The clock time read as if it were UTC: an instant u shows it locally when u plus the zone's
  // offset at u equals this. The offsets that can apply are those in force within a day either
  // side (no zone moves by more, nor twice in a day); each gives one candidate instant, and the
  // clock time is stable when exactly one candidate keeps its offset.
  std::tm tm = fields_of(s);
  const std::time_t clock = ::timegm(&tm);
  std::array<long, 3> offsets{};
  bool ok = clock != static_cast<std::time_t>(-1) && offset_at(clock - 86400, offsets[0]) && offset_at(clock, offsets[1]) &&
            offset_at(clock + 86400, offsets[2]);
  int matches = 0;
  for (std::size_t i = 0; ok && i < offsets.size(); ++i) {
    bool seen = false;
    for (std::size_t j = 0; j < i; ++j) seen = seen || offsets[j] == offsets[i];
    if (seen) continue;
    long at = 0;
    ok = offset_at(clock - offsets[i], at);
    matches += ok && at == offsets[i];
  }
  last_ = s;
  last_stable_ = ok && matches == 1;
  have_last_ = true;
  return last_stable_;
}

}  // namespace pthsafe::detail
