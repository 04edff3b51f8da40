// load_strict: loads a best.pth into this program's own buffers the way a deployment would, with
// strict load_state_dict semantics: the model is described by a manifest (what a C++ service
// knows about its network), the checkpoint is matched against it, and on any mismatch the
// program prints torch's report and exits 1. On success every tensor is copied (float32 into
// float32 buffers; a float16 checkpoint would be converted on the way) and a checksum printed.
//
//     load_strict CHECKPOINT MANIFEST.json        exit 0 loaded, 1 mismatch, 2 unreadable
#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "pthsafe/pthsafe.hpp"

namespace {

std::string join(const std::vector<std::string>& keys) {
  std::string s;
  for (const auto& k : keys) s += (s.empty() ? "\"" : ", \"") + k + "\"";
  return s;
}

std::string dims(const std::vector<std::int64_t>& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: load_strict CHECKPOINT MANIFEST.json\n");
    return 2;
  }
  std::ifstream in(argv[2], std::ios::binary);
  const std::string manifest((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto ref = pthsafe::reference_from_manifest(manifest);
  if (!ref) {
    std::fprintf(stderr, "load_strict: %s: %s\n", argv[2], ref.error_value().to_string().c_str());
    return 2;
  }
  auto ck = pthsafe::checkpoint::open(argv[1]);
  if (!ck) {
    std::fprintf(stderr, "load_strict: %s: %s\n", argv[1], ck.error_value().to_string().c_str());
    return 2;
  }
  auto sd = pthsafe::find_state_dict(*ck);
  if (!sd) {
    std::fprintf(stderr, "load_strict: %s: %s\n", argv[1], sd.error_value().to_string().c_str());
    return 2;
  }
  const pthsafe::match_report report = pthsafe::match_state_dict(*sd, *ref);  // strict, as torch's default
  if (!report.ok()) {
    std::printf("Error(s) in loading state_dict:\n");
    if (!report.missing_keys.empty()) std::printf("  Missing key(s) in state_dict: %s.\n", join(report.missing_keys).c_str());
    if (!report.unexpected_keys.empty()) std::printf("  Unexpected key(s) in state_dict: %s.\n", join(report.unexpected_keys).c_str());
    for (const auto& m : report.size_mismatches)
      std::printf("  size mismatch for %s: checkpoint %s, model %s.\n", m.key.c_str(), dims(m.checkpoint).c_str(), dims(m.expected).c_str());
    return 1;
  }
  // The model's own memory: one buffer per tensor, in the dtype the manifest asks for.
  std::vector<std::vector<std::byte>> storage;
  std::vector<pthsafe::destination> dests;
  storage.reserve(ref->entries.size());
  for (const auto& e : ref->entries) {
    std::size_t n = pthsafe::itemsize(e.type);
    for (auto d : e.shape) n *= static_cast<std::size_t>(d);
    storage.emplace_back(n);
    dests.push_back({e.name, e.type, e.shape, storage.back()});
  }
  if (auto r = pthsafe::load_into(*sd, dests); !r) {
    std::fprintf(stderr, "load_strict: %s\n", r.error_value().to_string().c_str());
    return 2;
  }
  std::uint64_t sum = 0, bytes = 0;
  for (const auto& b : storage) {
    for (std::byte x : b) sum = sum * 31 + static_cast<std::uint8_t>(x);
    bytes += b.size();
  }
  std::printf("loaded %zu tensors (%llu bytes) strictly; checksum %016llx\n", storage.size(),
              static_cast<unsigned long long>(bytes), static_cast<unsigned long long>(sum));
  return 0;
}
