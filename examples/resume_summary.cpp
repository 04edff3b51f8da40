// resume_summary: what a last.pth holds for resuming training, read with pthsafe's typed access
// (pthsafe/resume.hpp) and printed before anything is handed to the trainer.
//
//   resume_summary last.pth
//
// Exit status: 0 when the file is a training checkpoint, 1 when it is not (or a section is not
// shaped as torch writes it), 2 when it cannot be loaded.
#include <cstdio>
#include <string>

#include "pthsafe/pthsafe.hpp"

namespace {

std::string kinds(const std::vector<std::string_view>& k) {
  if (k.empty()) return "unknown";
  std::string s;
  for (std::size_t i = 0; i < k.size(); ++i) s += (i ? " or " : "") + std::string(k[i]);
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: resume_summary CHECKPOINT\n");
    return 2;
  }
  auto ck = pthsafe::checkpoint::open(argv[1]);
  if (!ck) {
    std::fprintf(stderr, "resume_summary: %s\n", ck.error_value().to_string().c_str());
    return 2;
  }
  const pthsafe::training_summary s = pthsafe::summarize_training(*ck);
  if (!s.is_training()) {
    std::printf("not a training checkpoint\n");
    return 1;
  }
  int status = 0;
  for (const auto& p : s.progress) std::printf("%s = %s\n", p.path.c_str(), p.v->int_decimal().c_str());
  for (const auto& m : s.metrics) {
    if (auto n = pthsafe::read_number(*m.v)) std::printf("metric %s = %g\n", m.path.c_str(), n->value);
  }
  for (const auto& v : s.versions) std::printf("version %s = %.*s\n", v.key.c_str(), static_cast<int>(v.text.size()), v.text.data());
  std::printf("model '%s': %llu tensors, %llu parameters, %llu bytes\n", s.model->key.c_str(),
              static_cast<unsigned long long>(s.model->tensors), static_cast<unsigned long long>(s.model->parameters),
              static_cast<unsigned long long>(s.model->bytes));
  for (const auto& o : s.optimizers) {
    if (!o.recognised) {
      std::printf("optimizer '%s': unrecognised: %s\n", o.key.c_str(), o.problem.c_str());
      status = 1;
      continue;
    }
    std::printf("optimizer '%s': %s, %zu parameters with state\n", o.key.c_str(), kinds(o.kind).c_str(), o.state.size());
    for (std::size_t i = 0; i < o.groups.size(); ++i) {
      const auto& g = o.groups[i];
      std::printf("  group %zu: %llu params", i, static_cast<unsigned long long>(g.params));
      if (g.lr) std::printf(", lr %g", *g.lr);
      if (g.betas) std::printf(", betas (%g, %g)", g.betas->first, g.betas->second);
      if (g.weight_decay) std::printf(", weight_decay %g", *g.weight_decay);
      std::printf("\n");
    }
    if (!o.state.empty()) {
      const auto& first = o.state.front();
      if (first.step)
        if (auto n = pthsafe::read_number(*first.step)) std::printf("  step %g\n", n->value);
      if (first.exp_avg) std::printf("  exp_avg of parameter %lld: %zu dims\n", static_cast<long long>(first.index), first.exp_avg->ndim());
    }
  }
  for (const auto& x : s.schedulers) {
    if (!x.recognised) {
      std::printf("scheduler '%s': unrecognised: %s\n", x.key.c_str(), x.problem.c_str());
      status = 1;
      continue;
    }
    std::printf("scheduler '%s': %s, last_epoch %lld", x.key.c_str(), kinds(x.kind).c_str(),
                static_cast<long long>(x.last_epoch.value_or(-1)));
    for (double lr : x.last_lr) std::printf(", lr %g", lr);
    std::printf("\n");
  }
  for (const auto& x : s.scalers) {
    if (!x.recognised) {
      std::printf("scaler '%s': unrecognised: %s\n", x.key.c_str(), x.problem.c_str());
      status = 1;
    } else if (x.scale) {
      std::printf("scaler '%s': scale %g, growth tracker %lld\n", x.key.c_str(), *x.scale,
                  static_cast<long long>(x.growth_tracker.value_or(0)));
    }
  }
  return status;
}
