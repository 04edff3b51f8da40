// state_dicts and safetensors tensors view their file: no call returning one takes a temporary.
// PTHSAFE_CASE 0 (the positive twin) must compile; each case 1..4 must fail on a deleted function.
// cases: 4
#include <string>
#include <utility>

#include "pthsafe/pthsafe.hpp"

using pthsafe::checkpoint;
using pthsafe::safetensors_file;

void use(const std::string& path, checkpoint& ck, safetensors_file& st) {
#if PTHSAFE_CASE == 0
  (void)pthsafe::find_state_dict(ck);
  (void)st.tensors();
  (void)st.metadata();
  (void)std::move(st).data_offset();  // no view: fine on an rvalue
#elif PTHSAFE_CASE == 1
  (void)pthsafe::find_state_dict(std::move(ck));
#elif PTHSAFE_CASE == 2
  (void)pthsafe::find_state_dict(checkpoint::open(path).value());  // the checkpoint dies at the semicolon
#elif PTHSAFE_CASE == 3
  (void)std::move(st).tensors();
#elif PTHSAFE_CASE == 4
  (void)safetensors_file::open(path).value().tensors();
#endif
  (void)path;
}
