// summarize_training on real torch fixtures (kinds, learning rates, state, schedulers, scaler),
// the kind inference on the exact key sets torch 1.13 and 2.15 write, and hostile shapes: every
// malformed section is reported unrecognised with its reason, nothing fails or grows unbounded.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "pthsafe/pthsafe.hpp"
#include "pthsafe/resume.hpp"
#include "support/pickle_builder.hpp"

using namespace pthsafe;
using pthsafe_test::pickle_writer;

namespace {

std::string fixture(const char* name) { return std::string(PTHSAFE_FIXTURES) + "/" + name; }

checkpoint open_fixture(const char* name) {
  auto ck = checkpoint::open(fixture(name));
  REQUIRE_MESSAGE(ck.has_value(), name);
  return std::move(ck).value();
}

checkpoint open_pickle(pickle_writer& p) {
  static std::vector<pthsafe_test::bytes> keep;  // open_buffer copies, but keep them for clarity of lifetime
  keep.push_back(p.take());
  auto ck = checkpoint::open_buffer(keep.back());
  REQUIRE_MESSAGE(ck.has_value(), ck.error_value().to_string());
  return std::move(ck).value();
}

// A dict of the given keys, each 0 except decoupled_weight_decay (the flag given).
checkpoint group_of(const std::vector<std::string_view>& keys, bool decoupled = false) {
  pickle_writer p;
  p.proto(2).empty_dict().mark();
  for (auto k : keys) {
    p.binunicode(k);
    if (k == "decoupled_weight_decay") p.boolean(decoupled);
    else p.integer(0);
  }
  p.setitems().stop();
  return open_pickle(p);
}

std::vector<std::string_view> kinds(std::initializer_list<std::string_view> k) { return k; }

}  // namespace

TEST_CASE("resume: last.pth (torch 2.15) and t113_last.pth, section by section") {
  for (const char* name : {"last.pth", "t113_last.pth"}) {
    const checkpoint ck = open_fixture(name);
    const training_summary s = summarize_training(ck);
    CHECK(s.is_training());
    REQUIRE(s.progress.size() == 2);
    CHECK(s.progress[0].path == "epoch");
    CHECK(s.progress[0].v->as_int64() == 3);
    CHECK(s.progress[1].path == "metrics/step");
    CHECK(s.progress[1].v->numpy_dtype() == dtype::int64);
    REQUIRE(s.metrics.size() == 2);
    CHECK(s.metrics[0].path == "metrics/val_loss");
    CHECK(s.metrics[0].v->numpy_dtype() == dtype::float32);
    CHECK(s.metrics[0].v->as_double() == 0.25);
    REQUIRE(s.versions.size() == 2);
    CHECK(s.versions[0].key == "version");
    CHECK(!s.versions[0].torch_version);
    CHECK(s.versions[1].key == "pytorch_version");
    CHECK(s.versions[1].torch_version);
    REQUIRE(s.model);
    CHECK(s.model->key == "model");
    CHECK(s.model->tensors == 9);
    CHECK(s.model->parameters == 54 + 3 + 3 + 3 + 3 + 3 + 1 + 48 + 4);
    CHECK(s.model->bytes == 492);
    REQUIRE(s.model->dtypes.size() == 2);
    CHECK(s.model->dtypes[0] == std::pair{dtype::float32, std::uint64_t{8}});
    REQUIRE(s.optimizers.size() == 1);
    const auto& o = s.optimizers[0];
    CHECK(o.recognised);
    CHECK(o.key == "optimizer");
    if (std::string(name) == "last.pth") CHECK(o.kind == kinds({"AdamW"}));
    else CHECK(o.kind == kinds({"Adam", "AdamW"}));  // 1.13's AdamW writes 1.12 Adam's keys
    REQUIRE(o.groups.size() == 1);
    CHECK(o.groups[0].lr == 0.00025);
    CHECK(o.groups[0].initial_lr == 0.001);
    CHECK(o.groups[0].betas == std::pair{0.9, 0.999});
    CHECK(o.groups[0].weight_decay == 0.01);
    CHECK(o.groups[0].amsgrad == false);
    CHECK(!o.groups[0].foreach);  // None in the file
    CHECK(o.groups[0].params == 6);
    REQUIRE(o.state.size() == 6);
    CHECK(o.state[5].index == 5);
    REQUIRE(o.state[0].exp_avg);
    CHECK(o.state[0].exp_avg->shape().size() == 4);
    CHECK(o.state[0].exp_avg_sq);
    CHECK(!o.state[0].momentum_buffer);
    REQUIRE(o.state[0].step);
    const auto step = read_number(*o.state[0].step);
    REQUIRE(step);
    CHECK(step->value == 2.0);
    CHECK(step->tensor == dtype::float32);
    CHECK(o.state_tensors == 18);
    REQUIRE(s.schedulers.size() == 1);
    CHECK(s.schedulers[0].kind == kinds({"StepLR"}));
    CHECK(s.schedulers[0].last_epoch == 2);
    CHECK(s.schedulers[0].step_count == 3);
    CHECK(s.schedulers[0].last_lr == std::vector<double>{0.00025});
    CHECK(s.schedulers[0].base_lrs == std::vector<double>{0.001});
    REQUIRE(s.scalers.size() == 1);
    CHECK(s.scalers[0].recognised);
    CHECK(s.scalers[0].scale == 65536.0);
    CHECK(s.scalers[0].growth_interval == 2000);
    CHECK(s.scalers[0].growth_tracker == 2);
  }
}

TEST_CASE("resume: the optimizer and scheduler fixtures written by real torch") {
  struct row {
    const char* file;
    std::vector<std::string_view> optimizer, scheduler;
    const char* optimizer_key;
  };
  const row rows[] = {
      {"resume_sgd_steplr.pth", {"SGD"}, {"StepLR"}, "optimizer"},
      {"t113_resume_sgd_steplr.pth", {"SGD"}, {"StepLR"}, "optimizer"},
      {"resume_adam_cosine.pth", {"Adam"}, {"CosineAnnealingLR"}, "optimizer_state_dict"},
      {"t113_resume_adam_cosine.pth", {"Adam", "AdamW"}, {"CosineAnnealingLR"}, "optimizer_state_dict"},
      {"resume_adamw_onecycle.pth", {"AdamW"}, {"OneCycleLR"}, "optimizer"},
      {"t113_resume_adamw_warmrestarts.pth", {"Adam", "AdamW"}, {"CosineAnnealingWarmRestarts"}, "optimizer"},
      {"resume_rmsprop_plateau.pth", {"RMSprop"}, {"ReduceLROnPlateau"}, "optimizer_state_dict"},
      {"t113_resume_rmsprop_plateau.pth", {"RMSprop"}, {"ReduceLROnPlateau"}, "optimizer_state_dict"},
  };
  for (const auto& r : rows) {
    CAPTURE(r.file);
    const checkpoint ck = open_fixture(r.file);
    const training_summary s = summarize_training(ck);
    CHECK(s.is_training());
    REQUIRE(s.optimizers.size() == 1);
    CHECK(s.optimizers[0].key == r.optimizer_key);
    CHECK(s.optimizers[0].kind == r.optimizer);
    REQUIRE(s.optimizers[0].groups.size() == 2);
    CHECK(s.optimizers[0].groups[0].params == 4);
    CHECK(s.optimizers[0].groups[1].params == 2);
    REQUIRE(s.schedulers.size() == 1);
    CHECK(s.schedulers[0].kind == r.scheduler);
    CHECK(s.schedulers[0].last_epoch == 3);
    CHECK(s.progress.size() == 2);
    REQUIRE(s.metrics.size() == 1);
    CHECK(s.metrics[0].path == "loss");
  }
  // SGD with momentum keeps a momentum_buffer per parameter and no step.
  const checkpoint ck = open_fixture("resume_sgd_steplr.pth");
  const auto s = summarize_training(ck);
  REQUIRE(!s.optimizers[0].state.empty());
  CHECK(s.optimizers[0].state[0].momentum_buffer);
  CHECK(!s.optimizers[0].state[0].step);
  CHECK(s.optimizers[0].groups[0].nesterov == true);
  CHECK(s.optimizers[0].groups[0].momentum == 0.9);
}

TEST_CASE("resume: optimizer kinds from the key sets torch 2.15 and 1.13 write") {
  struct row {
    std::vector<std::string_view> keys;
    bool decoupled;
    std::vector<std::string_view> kind;
  };
  const row rows[] = {
      // torch 2.15
      {{"lr", "momentum", "dampening", "weight_decay", "nesterov", "maximize", "foreach", "differentiable", "fused"}, false, {"SGD"}},
      {{"lr", "betas", "eps", "weight_decay", "amsgrad", "maximize", "foreach", "capturable", "differentiable", "fused",
        "decoupled_weight_decay"}, false, {"Adam"}},
      {{"lr", "betas", "eps", "weight_decay", "amsgrad", "maximize", "foreach", "capturable", "differentiable", "fused",
        "decoupled_weight_decay"}, true, {"AdamW"}},
      {{"lr", "alpha", "eps", "weight_decay", "momentum", "centered", "capturable", "foreach", "maximize", "differentiable"}, false, {"RMSprop"}},
      {{"lr", "lr_decay", "weight_decay", "initial_accumulator_value", "eps", "foreach", "maximize", "differentiable", "fused"}, false, {"Adagrad"}},
      {{"lr", "rho", "eps", "weight_decay", "foreach", "capturable", "maximize", "differentiable"}, false, {"Adadelta"}},
      {{"lr", "betas", "eps", "weight_decay", "foreach", "maximize", "differentiable", "capturable"}, false, {"Adamax", "RAdam"}},
      {{"lr", "betas", "eps", "weight_decay", "momentum_decay", "decoupled_weight_decay", "maximize", "foreach", "capturable",
        "differentiable"}, true, {"NAdam"}},
      {{"lr", "betas", "eps", "weight_decay", "maximize", "foreach", "capturable", "decoupled_weight_decay", "differentiable"}, false, {"RAdam"}},
      {{"lr", "lambd", "alpha", "t0", "weight_decay", "foreach", "maximize", "differentiable", "capturable"}, false, {"ASGD"}},
      {{"lr", "etas", "step_sizes", "foreach", "maximize", "differentiable", "capturable"}, false, {"Rprop"}},
      {{"lr", "max_iter", "max_eval", "tolerance_grad", "tolerance_change", "history_size", "line_search_fn", "maximize"}, false, {"LBFGS"}},
      {{"lr", "betas", "eps", "maximize"}, false, {"SparseAdam"}},
      {{"lr", "beta2_decay", "eps", "d", "weight_decay", "foreach", "maximize"}, false, {"Adafactor"}},
      // torch 1.13
      {{"lr", "momentum", "dampening", "weight_decay", "nesterov", "maximize", "foreach", "differentiable"}, false, {"SGD"}},
      {{"lr", "betas", "eps", "weight_decay", "amsgrad", "maximize", "foreach", "capturable", "differentiable", "fused"}, false, {"Adam", "AdamW"}},
      {{"lr", "betas", "eps", "weight_decay", "amsgrad", "foreach", "maximize", "capturable"}, false, {"Adam", "AdamW"}},
      {{"lr", "betas", "eps", "weight_decay", "foreach"}, false, {"Adamax", "RAdam"}},  // RAdam 1.13
      {{"lr", "betas", "eps", "weight_decay", "momentum_decay", "foreach"}, false, {"NAdam"}},
      // scheduler-added and user keys change nothing
      {{"lr", "momentum", "nesterov", "initial_lr", "max_lr", "min_lr", "max_momentum", "base_momentum", "name"}, false, {"SGD"}},
      {{"lr", "weight_decay"}, false, {}},
  };
  for (const auto& r : rows) {
    const checkpoint ck = group_of(r.keys, r.decoupled);
    CHECK(infer_optimizer_kind(ck.root()) == r.kind);
  }
  const checkpoint list = [] {
    pickle_writer p;
    p.proto(2).empty_list().stop();
    return open_pickle(p);
  }();
  CHECK(infer_optimizer_kind(list.root()).empty());
}

TEST_CASE("resume: scheduler kinds from their keys") {
  struct row {
    std::vector<std::string_view> keys;
    std::vector<std::string_view> kind;
  };
  const row rows[] = {
      {{"step_size", "gamma", "base_lrs", "last_epoch", "_step_count", "_last_lr"}, {"StepLR"}},
      {{"milestones", "gamma", "base_lrs", "last_epoch"}, {"MultiStepLR"}},
      {{"gamma", "base_lrs", "last_epoch"}, {"ExponentialLR"}},
      {{"T_max", "eta_min", "base_lrs", "last_epoch"}, {"CosineAnnealingLR"}},
      {{"total_steps", "_schedule_phases", "anneal_func", "last_epoch"}, {"OneCycleLR"}},
      {{"factor", "patience", "num_bad_epochs", "last_epoch"}, {"ReduceLROnPlateau"}},
      {{"lr_lambdas", "base_lrs", "last_epoch"}, {"LambdaLR", "MultiplicativeLR"}},
      {{"start_factor", "end_factor", "total_iters", "base_lrs"}, {"LinearLR"}},
      {{"_schedulers", "_milestones", "_last_lr", "last_epoch"}, {"SequentialLR"}},
      {{"_schedulers", "_last_lr"}, {"ChainedScheduler"}},
      {{"T_0", "T_i", "T_mult", "T_cur", "eta_min", "base_lrs"}, {"CosineAnnealingWarmRestarts"}},
      {{"factor", "total_iters", "base_lrs"}, {"ConstantLR"}},
      {{"power", "total_iters", "base_lrs"}, {"PolynomialLR"}},
      {{"max_lrs", "total_size", "base_lrs"}, {"CyclicLR"}},
      {{"last_epoch"}, {}},
  };
  for (const auto& r : rows) {
    const checkpoint ck = group_of(r.keys);
    CHECK(infer_scheduler_kind(ck.root()) == r.kind);
  }
}

namespace {

// {"optimizer": <emit>, "scheduler": {...last_epoch: <emit_epoch>}, "scaler": <emit_scaler>}
template <class A, class B, class C>
checkpoint sections(A optimizer, B scheduler, C scaler) {
  pickle_writer p;
  p.proto(2).empty_dict().mark();
  p.binunicode("optimizer");
  optimizer(p);
  p.binunicode("scheduler");
  scheduler(p);
  p.binunicode("scaler");
  scaler(p);
  p.setitems().stop();
  return open_pickle(p);
}

void good_scheduler(pickle_writer& p) {
  p.empty_dict().mark().binunicode("last_epoch").integer(1).binunicode("base_lrs").empty_list().setitems();
}
void good_scaler(pickle_writer& p) { p.empty_dict(); }  // a disabled GradScaler's state_dict()

}  // namespace

TEST_CASE("resume: hostile shapes are unrecognised sections, never errors") {
  SUBCASE("param_groups not a list") {
    const checkpoint ck = sections(
        [](pickle_writer& p) {
          p.empty_dict().mark().binunicode("state").empty_dict().binunicode("param_groups").integer(5).setitems();
        },
        good_scheduler, good_scaler);
    const auto s = summarize_training(ck);
    REQUIRE(s.optimizers.size() == 1);
    CHECK(!s.optimizers[0].recognised);
    CHECK(s.optimizers[0].problem == "param_groups is a int, not a list");
    REQUIRE(s.schedulers.size() == 1);
    CHECK(s.schedulers[0].recognised);
    REQUIRE(s.scalers.size() == 1);
    CHECK(s.scalers[0].recognised);
    CHECK(!s.scalers[0].scale);
    CHECK(!s.is_training());  // no model
  }
  SUBCASE("lr a string: kept generically, not typed") {
    const checkpoint ck = sections(
        [](pickle_writer& p) {
          p.empty_dict().mark().binunicode("state").empty_dict().binunicode("param_groups").empty_list();
          p.empty_dict().mark().binunicode("lr").binunicode("0.1").binunicode("momentum").binfloat(0.9);
          p.binunicode("nesterov").integer(1).binunicode("params").empty_list().setitems().append();
          p.setitems();
        },
        good_scheduler, good_scaler);
    const auto s = summarize_training(ck);
    REQUIRE(s.optimizers.size() == 1);
    const auto& o = s.optimizers[0];
    CHECK(o.recognised);
    CHECK(o.kind == kinds({"SGD"}));
    REQUIRE(o.groups.size() == 1);
    CHECK(!o.groups[0].lr);
    CHECK(o.groups[0].momentum == 0.9);
    CHECK(!o.groups[0].nesterov);  // an int, not a bool
    REQUIRE(o.groups[0].hyper_parameters.size() == 3);
    CHECK(o.groups[0].hyper_parameters[0].first == "lr");
    CHECK(o.groups[0].hyper_parameters[0].second->text() == "0.1");
  }
  SUBCASE("state keys not ints, state entries not dicts, groups without params") {
    const checkpoint a = sections(
        [](pickle_writer& p) {
          p.empty_dict().mark().binunicode("state").empty_dict().mark().binunicode("0").empty_dict().setitems();
          p.binunicode("param_groups").empty_list().setitems();
        },
        good_scheduler, good_scaler);
    CHECK(summarize_training(a).optimizers.at(0).problem == "a state key is a str, not an int");
    const checkpoint b = sections(
        [](pickle_writer& p) {
          p.empty_dict().mark().binunicode("state").empty_dict().mark().integer(0).integer(7).setitems();
          p.binunicode("param_groups").empty_list().setitems();
        },
        good_scheduler, good_scaler);
    CHECK(summarize_training(b).optimizers.at(0).problem == "state[0] is not a dict");
    const checkpoint c = sections(
        [](pickle_writer& p) {
          p.empty_dict().mark().binunicode("state").empty_dict().binunicode("param_groups").empty_list();
          p.empty_dict().append().setitems();
        },
        good_scheduler, good_scaler);
    CHECK(summarize_training(c).optimizers.at(0).problem == "a param_groups entry has no params list");
  }
  SUBCASE("named sections of the wrong type, a last_epoch beyond int64, a string scale") {
    const checkpoint ck = sections([](pickle_writer& p) { p.empty_list(); },
                                   [](pickle_writer& p) {
                                     p.empty_dict().mark().binunicode("last_epoch").op(pthsafe_test::pk::LONG1).u8(9);
                                     for (int i = 0; i < 9; ++i) p.u8(0x7f);
                                     p.binunicode("base_lrs").empty_list().setitems();
                                   },
                                   [](pickle_writer& p) {
                                     p.empty_dict().mark().binunicode("scale").binunicode("big").binunicode("growth_factor");
                                     p.binfloat(2.0).binunicode("backoff_factor").binfloat(0.5).setitems();
                                   });
    const auto s = summarize_training(ck);
    REQUIRE(s.optimizers.size() == 1);
    CHECK(s.optimizers[0].problem == "a list, not a dict with state and param_groups");
    REQUIRE(s.schedulers.size() == 1);
    CHECK(!s.schedulers[0].recognised);
    CHECK(s.schedulers[0].problem == "no int last_epoch");
    REQUIRE(s.scalers.size() == 1);
    CHECK(!s.scalers[0].recognised);
    CHECK(s.scalers[0].problem == "no numeric scale, growth_factor and backoff_factor");
  }
  SUBCASE("one group dict shared 100000 times: the walk budget stops it") {
    pickle_writer p;
    p.proto(2).empty_dict().mark().binunicode("optimizer");
    p.empty_dict().mark().binunicode("state").empty_dict().binunicode("param_groups").empty_list().mark();
    p.empty_dict().binput(1).mark().binunicode("params").empty_list();
    for (int k = 0; k < 60; ++k) p.binunicode("k" + std::to_string(k)).integer(k);
    p.setitems();
    for (int i = 0; i < 100000; ++i) p.binget(1);
    p.appends().setitems().setitems().stop();
    const checkpoint ck = open_pickle(p);
    const auto s = summarize_training(ck);
    REQUIRE(s.optimizers.size() == 1);
    CHECK(!s.optimizers[0].recognised);
    CHECK(s.optimizers[0].problem.find("max_walk_nodes") != std::string::npos);
  }
}

TEST_CASE("resume: read_number") {
  pickle_writer p;
  p.proto(2).mark().integer(3).binfloat(0.5).newtrue().binunicode("x").op(pthsafe_test::pk::LONG1).u8(9);
  for (int i = 0; i < 9; ++i) p.u8(1);
  p.list().stop();
  const checkpoint ck = open_pickle(p);
  const auto items = ck.root().items();
  REQUIRE(items.size() == 5);
  CHECK(read_number(*items[0])->value == 3.0);
  CHECK(read_number(*items[0])->is_integer);
  CHECK(read_number(*items[1])->value == 0.5);
  CHECK(!read_number(*items[1])->is_integer);
  CHECK(read_number(*items[2])->value == 1.0);
  CHECK(!read_number(*items[3]));
  CHECK(!read_number(*items[4]));  // beyond int64
}

TEST_CASE("resume: a bare state_dict and a metadata load") {
  const checkpoint sd = open_fixture("state_dict.pth");
  CHECK(!summarize_training(sd).is_training());
  load_options o;
  o.mode = load_mode::metadata;
  auto ck = checkpoint::open(fixture("last.pth"), o);
  REQUIRE(ck);
  const auto s = summarize_training(*ck);
  CHECK(s.is_training());
  REQUIRE(s.optimizers.at(0).state.at(0).step);
  CHECK(!read_number(*s.optimizers[0].state[0].step));  // a tensor without loaded bytes
}
