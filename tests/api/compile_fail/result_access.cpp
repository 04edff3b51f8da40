// result<T> hands out no reference or pointer into a temporary result.
// PTHSAFE_CASE 0 (the positive twin) must compile; each case 1..5 must fail on a deleted function.
// cases: 5
#include <string>
#include <utility>

#include "pthsafe/pthsafe.hpp"

using pthsafe::checkpoint;
using pthsafe::result;

void use(const std::string& path) {
  auto r = checkpoint::open(path);
  const result<checkpoint> cr = checkpoint::open(path);
#if PTHSAFE_CASE == 0
  if (r) (void)r->root();
  if (r) (void)(*r).tensor_count();
  if (cr) (void)cr->root();
  if (cr) (void)cr.value().root();
  checkpoint owned = checkpoint::open(path).value();  // moved out: the caller owns it
  (void)owned.root();
#elif PTHSAFE_CASE == 1
  (void)checkpoint::open(path)->root();  // operator-> on a temporary result
#elif PTHSAFE_CASE == 2
  const checkpoint& c = *checkpoint::open(path);  // operator* on a temporary result
  (void)c;
#elif PTHSAFE_CASE == 3
  (void)std::move(cr)->root();  // operator-> on a const rvalue
#elif PTHSAFE_CASE == 4
  const checkpoint& c = *std::move(cr);  // operator* on a const rvalue
  (void)c;
#elif PTHSAFE_CASE == 5
  const checkpoint& c = std::move(cr).value();  // value() of a const rvalue cannot move out
  (void)c;
#endif
  (void)r;
  (void)cr;
}
