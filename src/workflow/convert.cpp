// convert_file(): read (checkpoint or safetensors), choose what to write, write it through the
// writer, read it back and compare before the rename. Memory stays bounded for mapped inputs:
// every piece of tensor bytes leaves memory once written and once compared.
#include <algorithm>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "pthsafe/checkpoint.hpp"
#include "pthsafe/convert.hpp"
#include "pthsafe/match.hpp"
#include "pthsafe/safetensors.hpp"
#include "pthsafe/save.hpp"
#include "pthsafe/sharded.hpp"
#include "pthsafe/tensor.hpp"
#include "util/try.hpp"
#include "write/output_file.hpp"

namespace pthsafe {
namespace {

enum class format { pth, safetensors, unknown };

format output_format(const std::string& path) {
  const std::string e = std::filesystem::path(path).extension().string();
  if (e == ".safetensors") return format::safetensors;
  if (e == ".pth" || e == ".pt" || e == ".bin" || e == ".ckpt") return format::pth;
  return format::unknown;
}

bool is_float_kind(dtype t) { return t == dtype::float32 || t == dtype::float16 || t == dtype::bfloat16; }

// What is written: named tensors (a state_dict) or a whole tree, plus the buffers that hold
// dtype-converted copies and the source mapping to release pages of.
struct plan {
  std::vector<named_tensor> tensors;
  std::optional<save_value> tree;
  std::vector<std::unique_ptr<std::vector<std::byte>>> converted;
  std::function<void(std::span<const std::byte>)> release;
};

// load_into does the conversion (torch's .to(dtype), bit for bit) into buffers we own.
result<void> convert_dtypes(const state_dict& sd, dtype to, plan& p, convert_summary& sum) {
  std::vector<destination> dests;
  for (std::size_t i = 0; i < sd.entries.size(); ++i) {
    const tensor_view& t = sd.entries[i].tensor;
    if (!is_float_kind(t.element_type()) || t.element_type() == to) continue;
    auto buf = std::make_unique<std::vector<std::byte>>(t.numel() * itemsize(to));
    dests.push_back({std::string(sd.entries[i].name), to, {t.shape().begin(), t.shape().end()}, *buf});
    save_tensor& st = p.tensors[i].tensor;
    st.type = to;
    st.stride.clear();
    st.storage_offset = 0;
    st.storage = *buf;
    p.converted.push_back(std::move(buf));
    ++sum.converted;
  }
  if (!dests.empty()) PTHSAFE_TRY(load_into(sd, dests));
  return {};
}

bool ends_with(const std::string& s, std::string_view tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

// A tensor_ref as a save_tensor over the bytes its geometry reaches.
save_tensor save_tensor_of(const tensor_ref& r) {
  save_tensor t;
  t.type = r.type;
  t.shape = r.shape;
  t.stride = r.strides;
  std::uint64_t reach = 1;
  bool empty = false;
  for (std::size_t d = 0; d < r.shape.size(); ++d) {
    if (r.shape[d] == 0) empty = true;
    const auto stride = r.strides.empty() ? std::int64_t{0} : r.strides[d];
    if (r.shape[d] > 0) reach += static_cast<std::uint64_t>(r.shape[d] - 1) * static_cast<std::uint64_t>(stride);
  }
  if (r.strides.empty()) {
    reach = 1;
    for (const auto d : r.shape) reach *= static_cast<std::uint64_t>(std::max<std::int64_t>(d, 0));
  }
  if (empty || r.data == nullptr) reach = 0;
  t.storage = std::span<const std::byte>(r.data, reach * itemsize(r.type));
  return t;
}

// An index as save_pretrained writes it: json.dumps(index, indent=2, sort_keys=True) + "\n"
// (ASCII only: other characters as \u escapes of four hex digits, surrogate pairs beyond the BMP).
void json_ascii(std::string& out, std::string_view s) {
  static const char* hex = "0123456789abcdef";
  const auto u = [&](unsigned v) {
    out += "\\u";
    for (int k = 12; k >= 0; k -= 4) out.push_back(hex[(v >> k) & 15]);
  };
  out.push_back('"');
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      if (c == '"') out += "\\\"";
      else if (c == '\\') out += "\\\\";
      else if (c == '\n') out += "\\n";
      else if (c == '\r') out += "\\r";
      else if (c == '\t') out += "\\t";
      else if (c == '\b') out += "\\b";
      else if (c == '\f') out += "\\f";
      else if (c < 0x20) u(c);
      else out.push_back(static_cast<char>(c));
      ++i;
      continue;
    }
    const int len = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
    unsigned cp = c & (len == 4 ? 0x07u : len == 3 ? 0x0fu : 0x1fu);
    for (int k = 1; k < len && i + static_cast<std::size_t>(k) < s.size(); ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + static_cast<std::size_t>(k)]) & 0x3fu);
    if (cp >= 0x10000) {
      cp -= 0x10000;
      u(0xd800 + (cp >> 10));
      u(0xdc00 + (cp & 0x3ff));
    } else {
      u(cp);
    }
    i += static_cast<std::size_t>(len);
  }
  out.push_back('"');
}

result<convert_summary> convert_sharded(const std::string& in, const std::string& out, const convert_options& opts) {
  const bool to_st = ends_with(out, ".safetensors.index.json");
  if (!to_st && !ends_with(out, ".bin.index.json") && !ends_with(out, ".pth.index.json")) {
    return make_error(errc::convert_format_unknown,
                      "a sharded output is named *.safetensors.index.json, *.bin.index.json or *.pth.index.json", out);
  }
  if (opts.to_dtype) return make_error(errc::unsupported_feature, "--dtype is not applied to sharded checkpoints", in);
  PTHSAFE_ASSIGN(auto sh, sharded_state_dict::open(in, opts.load));
  const std::filesystem::path folder = std::filesystem::path(out).parent_path();
  convert_summary sum;
  std::map<std::string, std::string> weight_map;
  std::uint64_t total = 0;
  for (std::size_t s = 0; s < sh.shards().size(); ++s) {
    std::vector<named_tensor> tensors;
    for (std::size_t i = 0; i < sh.tensors().size(); ++i) {
      if (sh.shard_of(i) == s) tensors.push_back({sh.tensors()[i].name, save_tensor_of(sh.tensors()[i])});
    }
    const std::string name = std::filesystem::path(sh.shards()[s]).stem().string() + (to_st ? ".safetensors" : ".bin");
    const std::string path = (folder / name).string();
    save_options so;
    if (to_st) {
      so.verify = [&](const std::filesystem::path& written) -> result<void> {
        PTHSAFE_ASSIGN(auto back, safetensors_file::open(written.string(), opts.load.limits));
        return verify_saved_safetensors(tensors, back);
      };
      PTHSAFE_TRY(save_safetensors(tensors, {{"format", "pt"}}, path, so));
    } else {
      save_value sd = save_value::ordered_dict();
      for (const auto& t : tensors) sd.set(t.name, t.tensor);
      so.verify = [&](const std::filesystem::path& written) -> result<void> {
        load_options back_opts;
        back_opts.mode = load_mode::mmap;
        PTHSAFE_ASSIGN(auto back, checkpoint::open(written.string(), back_opts));
        return verify_saved(sd, back.root());
      };
      PTHSAFE_TRY(save(sd, path, so));
    }
    for (const auto& t : tensors) {
      weight_map[t.name] = name;
      std::uint64_t n = itemsize(t.tensor.type);
      for (const auto d : t.tensor.shape) n *= static_cast<std::uint64_t>(d);
      total += n;
    }
    sum.tensors += tensors.size();
  }
  std::string text = "{\n  \"metadata\": {\n    \"total_size\": " + std::to_string(total) + "\n  },\n  \"weight_map\": {";
  bool first = true;
  for (const auto& [k, v] : weight_map) {
    text += first ? "\n    " : ",\n    ";
    first = false;
    json_ascii(text, k);
    text += ": ";
    json_ascii(text, v);
  }
  text += weight_map.empty() ? "}\n}\n" : "\n  }\n}\n";
  PTHSAFE_ASSIGN(auto file, detail::output_file::create(out));
  if (!file.write(std::as_bytes(std::span<const char>(text.data(), text.size())))) {
    return make_error(errc::io_write, file.failure(), out);
  }
  PTHSAFE_TRY(file.commit());
  return sum;
}

}  // namespace

result<convert_summary> convert_file(const std::string& in, const std::string& out, const convert_options& opts) {
  if (ends_with(in, ".index.json")) return convert_sharded(in, out, opts);
  const format to = output_format(out);
  if (to == format::unknown) {
    return make_error(errc::convert_format_unknown,
                      "the output format comes from its extension (.pth, .pt, .bin, .ckpt, .safetensors)", out);
  }
  convert_summary sum;
  plan p;
  std::optional<checkpoint> ck;
  std::optional<safetensors_file> st;
  if (output_format(in) == format::safetensors) {
    PTHSAFE_ASSIGN(auto f, safetensors_file::open(in, opts.load.limits));
    st.emplace(std::move(f));
    for (const auto& t : st->tensors()) {
      save_tensor s;
      s.type = t.type;
      s.shape = t.shape;
      s.storage = t.bytes;
      p.tensors.push_back({t.name, std::move(s)});
    }
    for (const auto& m : st->metadata()) {
      if (m.first != "format") sum.dropped_metadata.push_back(m.first);
    }
    if (to == format::safetensors) sum.dropped_metadata.clear();  // carried over below
    if (opts.to_dtype) {
      return make_error(errc::unsupported_feature, "--dtype converts checkpoints; this input is already safetensors", in);
    }
    p.release = [&](std::span<const std::byte> b) { st->release_pages(b); };
  } else {
    PTHSAFE_ASSIGN(auto c, checkpoint::open(in, opts.load));
    ck.emplace(std::move(c));
    p.release = [&](std::span<const std::byte> b) { ck->release_pages(b); };
    const bool whole = to == format::pth && !opts.state_dict_only && !opts.to_dtype;
    if (whole) {
      PTHSAFE_ASSIGN(auto tree, save_value::from(ck->root()));
      p.tree.emplace(std::move(tree));
      sum.whole_tree = true;
      sum.tensors = ck->tensor_count();
    } else {
      PTHSAFE_ASSIGN(auto sd, find_state_dict(*ck, opts.state_dict));
      sum.state_dict_key = sd.key;
      for (const auto& e : sd.entries) {
        PTHSAFE_ASSIGN(auto t, save_tensor_from(e.tensor));
        p.tensors.push_back({std::string(e.name), std::move(t)});
      }
      if (opts.to_dtype) PTHSAFE_TRY(convert_dtypes(sd, *opts.to_dtype, p, sum));
    }
  }

  save_options so;
  so.progress = opts.progress;
  so.consumed = p.release;
  if (to == format::safetensors) {
    std::vector<std::pair<std::string, std::string>> metadata = {{"format", "pt"}};
    if (st) {
      for (const auto& m : st->metadata()) {
        if (m.first != "format") metadata.push_back(m);
      }
    }
    so.verify = [&](const std::filesystem::path& written) -> result<void> {
      PTHSAFE_ASSIGN(auto back, safetensors_file::open(written.string(), opts.load.limits));
      return verify_saved_safetensors(p.tensors, back, [&](std::span<const std::byte> b) {
        p.release(b);
        back.release_pages(b);
      });
    };
    PTHSAFE_TRY(save_safetensors(p.tensors, metadata, out, so));
    if (!sum.whole_tree) sum.tensors = p.tensors.size();
    return sum;
  }
  if (!p.tree) {
    save_value sd = save_value::ordered_dict();
    for (const auto& t : p.tensors) sd.set(t.name, t.tensor);
    p.tree.emplace(std::move(sd));
    sum.tensors = p.tensors.size();
  }
  so.verify = [&](const std::filesystem::path& written) -> result<void> {
    load_options back_opts;
    back_opts.mode = load_mode::mmap;
    back_opts.limits = opts.load.limits;
    PTHSAFE_ASSIGN(auto back, checkpoint::open(written.string(), back_opts));
    return verify_saved(*p.tree, back.root(), [&](std::span<const std::byte> b) {
      p.release(b);
      back.release_pages(b);
    });
  };
  PTHSAFE_TRY(save(*p.tree, out, so));
  return sum;
}

}  // namespace pthsafe
