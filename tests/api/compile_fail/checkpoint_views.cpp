// A checkpoint's views borrow from it: no member returning one is callable on a temporary.
// PTHSAFE_CASE 0 (the positive twin) must compile; each case 1..10 must fail on a deleted function.
// cases: 10
#include <string>
#include <utility>

#include "pthsafe/pthsafe.hpp"

using pthsafe::checkpoint;

void use(const std::string& path, checkpoint& ck) {
#if PTHSAFE_CASE == 0
  (void)ck.root();
  (void)ck.constants();
  (void)ck.archive_name();
  (void)ck.tensor(0);
  (void)ck.storage(0);
  (void)ck.find("a");
  (void)ck.find_tensor("a");
  (void)ck.warnings();
  checkpoint owned = checkpoint::open(path).value();
  (void)owned.root();
  (void)std::move(ck).tensor_count();  // no view: fine on an rvalue
#elif PTHSAFE_CASE == 1
  (void)std::move(ck).root();
#elif PTHSAFE_CASE == 2
  (void)std::move(ck).constants();
#elif PTHSAFE_CASE == 3
  (void)std::move(ck).archive_name();
#elif PTHSAFE_CASE == 4
  (void)std::move(ck).tensor(0);
#elif PTHSAFE_CASE == 5
  (void)std::move(ck).storage(0);
#elif PTHSAFE_CASE == 6
  (void)std::move(ck).find("a");
#elif PTHSAFE_CASE == 7
  (void)std::move(ck).find_tensor("a");
#elif PTHSAFE_CASE == 8
  (void)std::move(ck).warnings();
#elif PTHSAFE_CASE == 9
  (void)checkpoint::open(path).value().root();  // the checkpoint dies at the semicolon
#elif PTHSAFE_CASE == 10
  (void)checkpoint::open(path).value().find_tensor("a");
#endif
  (void)path;
}
