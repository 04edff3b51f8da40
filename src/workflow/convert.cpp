// convert_file(): read (checkpoint or safetensors), choose what to write, write it through the
// writer, read it back and compare before the rename. Memory stays bounded for mapped inputs:
// every piece of tensor bytes leaves memory once written and once compared.
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "pthsafe/checkpoint.hpp"
#include "pthsafe/convert.hpp"
#include "pthsafe/match.hpp"
#include "pthsafe/safetensors.hpp"
#include "pthsafe/save.hpp"
#include "pthsafe/tensor.hpp"
#include "util/try.hpp"

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

}  // namespace

result<convert_summary> convert_file(const std::string& in, const std::string& out, const convert_options& opts) {
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
