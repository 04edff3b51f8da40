// map_location: torch.load's rules for where a storage goes (torch/serialization.py,
// _get_restore_location): a string or device maps everything; a dict maps a saved location
// found in it (exact string) and leaves the others; a callable decides per storage (None: keep
// the saved location). The default restores each storage where it was saved, and a CUDA
// location that does not exist is an error (validate_cuda_device), never a fallback to the CPU.
#include <charconv>
#include <string>

#include "pthsafe/cuda.hpp"
#include "util/escape.hpp"

namespace pthsafe::cuda {
namespace {

error bad(std::string_view what, std::string_view text) {
  std::string msg(what);
  msg += " '";
  pthsafe::detail::append_text_escaped(msg, text);
  msg += "'";
  return make_error(errc::cuda_bad_map_location, std::move(msg));
}

}  // namespace

result<device> parse_device(std::string_view text) {
  if (text == "cpu") return device{};
  if (text == "cuda") return device{device::kind::cuda, 0};
  constexpr std::string_view prefix = "cuda:";
  if (!text.starts_with(prefix)) return bad("not a device (cpu, cuda or cuda:N)", text);
  const std::string_view digits = text.substr(prefix.size());
  if (digits.empty() || digits.size() > 5 || (digits.size() > 1 && digits[0] == '0'))
    return bad("not a CUDA device ordinal", text);
  int n = 0;
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
  if (ec != std::errc{} || end != digits.data() + digits.size() || n < 0 || n > 65535)
    return bad("not a CUDA device ordinal", text);
  return device{device::kind::cuda, n};
}

std::string device_name(device d) {
  return d.type == device::kind::cpu ? std::string("cpu") : "cuda:" + std::to_string(d.index);
}

map_location map_location::to(device d) {
  map_location m;
  m.form_ = form::single;
  m.single_ = d;
  return m;
}

map_location map_location::table(std::vector<std::pair<std::string, device>> entries) {
  map_location m;
  m.form_ = form::table;
  m.table_ = std::move(entries);
  return m;
}

map_location map_location::callback(callback_type fn) {
  map_location m;
  m.form_ = form::callback;
  m.fn_ = std::move(fn);
  return m;
}

result<map_location> map_location::parse(std::string_view spec) {
  if (spec.find('=') == std::string_view::npos) {
    auto d = parse_device(spec);
    if (!d) return std::move(d).error_value();
    return to(*d);
  }
  std::vector<std::pair<std::string, device>> entries;
  std::size_t at = 0;
  while (at <= spec.size()) {
    const std::size_t comma = std::min(spec.find(',', at), spec.size());
    const std::string_view entry = spec.substr(at, comma - at);
    const std::size_t eq = entry.find('=');
    if (eq == std::string_view::npos || eq == 0) return bad("not a table entry saved=target", entry);
    auto target = parse_device(entry.substr(eq + 1));
    if (!target) return std::move(target).error_value();
    const std::string saved(entry.substr(0, eq));
    for (const auto& e : entries)
      if (e.first == saved) return bad("saved location mapped twice", saved);
    entries.emplace_back(saved, *target);
    at = comma + 1;
  }
  return table(std::move(entries));
}

result<device> map_location::resolve(std::string_view saved, int cuda_devices) const {
  auto chosen = this->target(saved);
  if (!chosen) return chosen;
  const device target = *chosen;
  if (target.type == device::kind::cuda) {
    std::string where;
    pthsafe::detail::append_text_escaped(where, saved);
    if (cuda_devices <= 0)
      return make_error(errc::cuda_no_device, "no CUDA device: attempting to load a storage saved at '" + where + "' onto " +
                                                  device_name(target) + " but no CUDA device is available");
    if (target.index >= cuda_devices)
      return make_error(errc::cuda_no_device, "no CUDA device " + device_name(target) + " (storage saved at '" + where +
                                                  "'): there are only " + std::to_string(cuda_devices) + " CUDA device(s)");
  }
  return target;
}

result<device> map_location::target(std::string_view saved) const {
  device target{};
  switch (form_) {
    case form::single:
      target = single_;
      break;
    case form::table: {
      bool found = false;
      for (const auto& [from, to] : table_)
        if (from == saved) {
          target = to;
          found = true;
          break;
        }
      if (!found) {
        auto d = parse_device(saved);
        if (!d) return std::move(d).error_value();
        target = *d;
      }
      break;
    }
    case form::callback: {
      const std::optional<std::string> chosen = fn_ ? fn_(saved) : std::nullopt;
      auto d = parse_device(chosen ? std::string_view(*chosen) : saved);
      if (!d) return std::move(d).error_value();
      target = *d;
      break;
    }
    case form::saved: {
      auto d = parse_device(saved);
      if (!d) return std::move(d).error_value();
      target = *d;
      break;
    }
  }
  return target;
}

}  // namespace pthsafe::cuda
