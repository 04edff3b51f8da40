// A value's views point into the node: none is callable on a temporary value.
// PTHSAFE_CASE 0 (the positive twin) must compile; each case 1..4 must fail on a deleted function.
// cases: 4
#include <utility>

#include "pthsafe/pthsafe.hpp"

using pthsafe::value;

void use(const value& v) {
#if PTHSAFE_CASE == 0
  (void)v.text();
  (void)v.items();
  (void)v.attrs();
  (void)v.dict_class();
  (void)value(v).size();  // no view: fine on a temporary
#elif PTHSAFE_CASE == 1
  (void)value(v).text();
#elif PTHSAFE_CASE == 2
  (void)value(v).items();
#elif PTHSAFE_CASE == 3
  (void)std::move(v).attrs();
#elif PTHSAFE_CASE == 4
  (void)value(v).dict_class();
#endif
}
