// A training summary holds views of its checkpoint: it cannot be read from a temporary one.
// PTHSAFE_CASE 0 (the positive twin) must compile; each case 1..2 must fail on a deleted function.
// cases: 2
#include <string>
#include <utility>

#include "pthsafe/pthsafe.hpp"
#include "pthsafe/resume.hpp"

using pthsafe::checkpoint;

void use(const std::string& path, checkpoint& ck) {
#if PTHSAFE_CASE == 0
  const pthsafe::training_summary s = pthsafe::summarize_training(ck);
  (void)s.is_training();
  const checkpoint owned = checkpoint::open(path).value();
  (void)pthsafe::summarize_training(owned);
#elif PTHSAFE_CASE == 1
  (void)pthsafe::summarize_training(std::move(ck));
#elif PTHSAFE_CASE == 2
  (void)pthsafe::summarize_training(checkpoint::open(path).value());  // the checkpoint dies at the semicolon
#endif
  (void)path;
}
