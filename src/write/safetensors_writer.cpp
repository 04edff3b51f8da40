// save_safetensors(): the safetensors format as the safetensors package writes it.
#include <algorithm>
#include <array>
#include <cstring>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "io/checked.hpp"
#include "pickle/text.hpp"
#include "pthsafe/safetensors.hpp"
#include "pthsafe/save.hpp"
#include "util/try.hpp"
#include "write/output_file.hpp"
#include "write/tensor_bytes.hpp"

namespace pthsafe {
namespace {

// safetensors' dtype names, ranked as its Dtype enum orders them (by alignment); the writer
// sorts by rank, largest first.
struct st_dtype {
  std::string_view name;
  int rank;
};
std::optional<st_dtype> safetensors_dtype(dtype t) noexcept {
  switch (t) {
    case dtype::boolean: return st_dtype{"BOOL", 0};
    case dtype::uint8: return st_dtype{"U8", 1};
    case dtype::int8: return st_dtype{"I8", 2};
    case dtype::float8_e5m2: return st_dtype{"F8_E5M2", 3};
    case dtype::float8_e4m3fn: return st_dtype{"F8_E4M3", 4};
    case dtype::float8_e8m0fnu: return st_dtype{"F8_E8M0", 5};
    case dtype::int16: return st_dtype{"I16", 6};
    case dtype::uint16: return st_dtype{"U16", 7};
    case dtype::float16: return st_dtype{"F16", 8};
    case dtype::bfloat16: return st_dtype{"BF16", 9};
    case dtype::int32: return st_dtype{"I32", 10};
    case dtype::uint32: return st_dtype{"U32", 11};
    case dtype::float32: return st_dtype{"F32", 12};
    case dtype::complex64: return st_dtype{"C64", 13};
    case dtype::float64: return st_dtype{"F64", 14};
    case dtype::int64: return st_dtype{"I64", 15};
    case dtype::uint64: return st_dtype{"U64", 16};
    default: return std::nullopt;
  }
}

// A JSON string as serde_json writes it: '"' and '\\' escaped, control characters as \b \f \n
// \r \t or \u00xx, everything else (all of UTF-8) as is.
void json_string(std::string& out, std::string_view s) {
  static const char* hex = "0123456789abcdef";
  out.push_back('"');
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out.push_back(hex[c >> 4]);
          out.push_back(hex[c & 15]);
        } else {
          out.push_back(ch);
        }
    }
  }
  out.push_back('"');
}

struct planned {
  const named_tensor* t;
  st_dtype type;
  detail::tensor_extent extent;
};

struct plan {
  std::string header;  // length prefix included
  std::vector<const planned*> order;
  std::vector<planned> items;
};

result<plan> make_plan(std::span<const named_tensor> tensors, std::vector<std::pair<std::string, std::string>> metadata) {
  plan p;
  p.items.reserve(tensors.size());
  std::set<std::string_view> names;
  for (const auto& nt : tensors) {
    if (!names.insert(nt.name).second) return make_error(errc::save_duplicate_key, "the name '" + nt.name + "' twice");
    if (!detail::valid_utf8(nt.name, false)) return make_error(errc::save_unsupported, "a tensor name that is not UTF-8");
    const auto st = safetensors_dtype(nt.tensor.type);
    if (!st) {
      return make_error(errc::save_unsupported, "safetensors has no dtype for " + std::string(dtype_name(nt.tensor.type)) +
                                                    " ('" + nt.name + "')");
    }
    PTHSAFE_ASSIGN(auto ext, detail::measure(nt.tensor));
    p.items.push_back({&nt, *st, ext});
  }
  // Sharing: tensors over the same storage bytes. The same geometry is one tensor written once
  // (the other names recorded in the metadata); any other overlap is refused.
  std::vector<std::pair<std::string, std::string>> dropped;
  std::vector<bool> keep(p.items.size(), true);
  // A sweep over the tensors by the address of their first byte (ties: the earlier name first):
  // a tensor starting before the furthest end seen so far overlaps an earlier one.
  const auto start_of = [](const planned& x) { return x.t->tensor.storage.data() + x.extent.first_byte; };
  const auto end_of = [](const planned& x) { return x.t->tensor.storage.data() + x.extent.end_byte; };
  std::vector<std::size_t> by_address;
  for (std::size_t i = 0; i < p.items.size(); ++i) {
    if (p.items[i].extent.numel != 0) by_address.push_back(i);
  }
  std::stable_sort(by_address.begin(), by_address.end(),
                   [&](std::size_t l, std::size_t r) { return std::less<>{}(start_of(p.items[l]), start_of(p.items[r])); });
  const planned* reach = nullptr;  // the kept tensor reaching furthest so far
  const planned* last_kept = nullptr;
  for (const std::size_t i : by_address) {
    const planned& x = p.items[i];
    if (reach != nullptr && std::less<>{}(start_of(x), end_of(*reach))) {
      const bool identical = last_kept != nullptr && start_of(x) == start_of(*last_kept) && x.t->tensor.type == last_kept->t->tensor.type &&
                             x.t->tensor.shape == last_kept->t->tensor.shape && x.extent.strides == last_kept->extent.strides;
      if (!identical) {
        return make_error(errc::save_bad_tensor, "'" + reach->t->name + "' and '" + x.t->name +
                                                     "' share memory: safetensors cannot hold overlapping tensors");
      }
      keep[i] = false;
      dropped.emplace_back(x.t->name, last_kept->t->name);
      continue;
    }
    last_kept = &x;
    if (reach == nullptr || std::less<>{}(end_of(*reach), end_of(x))) reach = &x;
  }
  for (auto& d : dropped) {
    for (const auto& m : metadata) {
      if (m.first == d.first) return make_error(errc::save_duplicate_key, "metadata key '" + d.first + "' is also a tied tensor name");
    }
    metadata.push_back(std::move(d));
  }
  for (std::size_t i = 0; i < p.items.size(); ++i) {
    if (keep[i]) p.order.push_back(&p.items[i]);
  }
  std::stable_sort(p.order.begin(), p.order.end(), [](const planned* l, const planned* r) {
    if (l->type.rank != r->type.rank) return l->type.rank > r->type.rank;
    return l->t->name < r->t->name;
  });
  std::sort(metadata.begin(), metadata.end());
  for (std::size_t i = 1; i < metadata.size(); ++i) {
    if (metadata[i].first == metadata[i - 1].first) return make_error(errc::save_duplicate_key, "metadata key '" + metadata[i].first + "' twice");
  }

  std::string h = "{";
  bool first = true;
  if (!metadata.empty()) {
    h += "\"__metadata__\":{";
    for (std::size_t i = 0; i < metadata.size(); ++i) {
      if (!detail::valid_utf8(metadata[i].first, false) || !detail::valid_utf8(metadata[i].second, false)) {
        return make_error(errc::save_unsupported, "metadata that is not UTF-8");
      }
      if (i > 0) h.push_back(',');
      json_string(h, metadata[i].first);
      h.push_back(':');
      json_string(h, metadata[i].second);
    }
    h += "}";
    first = false;
  }
  std::uint64_t offset = 0;
  for (const planned* t : p.order) {
    if (!first) h.push_back(',');
    first = false;
    json_string(h, t->t->name);
    h += ":{\"dtype\":\"";
    h += t->type.name;
    h += "\",\"shape\":[";
    for (std::size_t d = 0; d < t->t->tensor.shape.size(); ++d) {
      if (d > 0) h.push_back(',');
      h += std::to_string(t->t->tensor.shape[d]);
    }
    const std::uint64_t n = t->extent.numel * itemsize(t->t->tensor.type);
    h += "],\"data_offsets\":[" + std::to_string(offset) + "," + std::to_string(offset + n) + "]}";
    offset += n;
  }
  h += "}";
  h.append((8 - h.size() % 8) % 8, ' ');
  std::string prefix(8, '\0');
  const auto len = static_cast<std::uint64_t>(h.size());
  for (int i = 0; i < 8; ++i) prefix[static_cast<std::size_t>(i)] = static_cast<char>((len >> (8 * i)) & 0xffu);
  p.header = prefix + h;
  return p;
}

result<void> write_plan(const plan& p, const detail::byte_sink_fn& raw_sink, const save_options& opts = {}) {
  std::uint64_t total = p.header.size(), done = 0;
  for (const planned* t : p.order) total += t->extent.numel * itemsize(t->t->tensor.type);
  const detail::byte_sink_fn counted = [&](std::span<const std::byte> b) {
    if (!raw_sink(b)) return false;
    done += b.size();
    opts.progress(done, total);
    return true;
  };
  const detail::byte_sink_fn& sink = opts.progress ? counted : raw_sink;
  if (!sink(std::as_bytes(std::span<const char>(p.header.data(), p.header.size())))) {
    return make_error(errc::io_write, "the output refused a write");
  }
  for (const planned* t : p.order) PTHSAFE_TRY(detail::write_elements(t->t->tensor, t->extent, sink, opts.consumed));
  return {};
}

}  // namespace

result<std::vector<std::byte>> save_safetensors_to_bytes(std::span<const named_tensor> tensors,
                                                         const std::vector<std::pair<std::string, std::string>>& metadata) {
  PTHSAFE_ASSIGN(auto p, make_plan(tensors, metadata));
  std::vector<std::byte> out;
  PTHSAFE_TRY(write_plan(p, [&](std::span<const std::byte> b) {
    out.insert(out.end(), b.begin(), b.end());
    return true;
  }));
  return out;
}

result<void> save_safetensors(std::span<const named_tensor> tensors,
                              const std::vector<std::pair<std::string, std::string>>& metadata,
                              const std::filesystem::path& path, const save_options& opts) {
  PTHSAFE_ASSIGN(auto p, make_plan(tensors, metadata));
  PTHSAFE_ASSIGN(auto file, detail::output_file::create(path));
  auto written = write_plan(p, [&](std::span<const std::byte> b) { return file.write(b); }, opts);
  if (!written) {
    if (!file.failure().empty()) return make_error(errc::io_write, file.failure(), path.string());
    return written;
  }
  return file.commit(opts.verify);
}

}  // namespace pthsafe

namespace pthsafe {

result<void> verify_saved_safetensors(std::span<const named_tensor> tensors, const safetensors_file& written,
                                      const std::function<void(std::span<const std::byte>)>& consumed) {
  const auto fail = [](const std::string& name, const std::string& what) {
    return make_error(errc::save_verify_mismatch, "'" + name + "': " + what);
  };
  std::map<std::string_view, const safetensors_tensor*> by_name;
  for (const auto& t : written.tensors()) by_name.emplace(t.name, &t);
  std::map<std::string_view, std::string_view> tied;
  for (const auto& m : written.metadata()) tied.emplace(m.first, m.second);
  if (by_name.size() > tensors.size()) return make_error(errc::save_verify_mismatch, "the file holds more tensors than were written");
  for (const auto& nt : tensors) {
    auto it = by_name.find(nt.name);
    if (it == by_name.end()) {
      const auto t = tied.find(nt.name);
      if (t == tied.end()) return fail(nt.name, "missing from the file");
      it = by_name.find(t->second);
      if (it == by_name.end()) return fail(nt.name, "tied to a tensor missing from the file");
    }
    const safetensors_tensor& w = *it->second;
    if (w.type != nt.tensor.type) return fail(nt.name, "dtype differs");
    if (w.shape != nt.tensor.shape) return fail(nt.name, "shape differs");
    PTHSAFE_ASSIGN(const auto extent, detail::measure(nt.tensor));
    std::uint64_t at = 0;
    bool same = true;
    const auto compare = [&](std::span<const std::byte> piece) {
      if (at + piece.size() > w.bytes.size() || std::memcmp(w.bytes.data() + at, piece.data(), piece.size()) != 0) {
        same = false;
        return false;
      }
      if (consumed) consumed(w.bytes.subspan(at, piece.size()));
      at += piece.size();
      return true;
    };
    auto r = detail::write_elements(nt.tensor, extent, compare, consumed);
    if (!r || !same || at != w.bytes.size()) return fail(nt.name, "elements differ");
  }
  return {};
}

}  // namespace pthsafe
