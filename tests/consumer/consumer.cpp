// A downstream program: opens a checkpoint through the installed (or embedded) pthsafe and prints
// one float32 tensor as "<key> <dtype> [<shape>] <values...>". Built by every consumer test
// (find_package, pkg-config, add_subdirectory) and its output compared with the values torch
// reads from the same fixture.
#include <cstdio>
#include <cstring>
#include <pthsafe/pthsafe.hpp>

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: consumer FILE KEY\n");
    return 2;
  }
  auto ck = pthsafe::checkpoint::open(argv[1]);
  if (!ck) {
    std::fprintf(stderr, "%s\n", ck.error_value().to_string().c_str());
    return 1;
  }
  auto t = ck->find_tensor(argv[2]);
  if (!t) {
    std::fprintf(stderr, "%s\n", t.error_value().to_string().c_str());
    return 1;
  }
  if (t->element_type() != pthsafe::dtype::float32 || !t->is_contiguous() || !t->data()) {
    std::fprintf(stderr, "%s: not a loaded contiguous float32 tensor\n", argv[2]);
    return 1;
  }
  std::printf("pthsafe %s\n%s %s [", pthsafe::version(), argv[2],
              std::string(pthsafe::dtype_name(t->element_type())).c_str());
  for (std::size_t i = 0; i < t->shape().size(); ++i) std::printf(i ? ",%lld" : "%lld", static_cast<long long>(t->shape()[i]));
  std::printf("]");
  for (std::uint64_t i = 0; i < t->numel(); ++i) {
    float v;
    std::memcpy(&v, t->data() + i * sizeof v, sizeof v);
    std::printf(" %g", static_cast<double>(v));
  }
  std::printf("\n");
  return 0;
}
