// save(): walks a save_value tree, pickles it as torch.save does and writes the archive.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <map>
#include <optional>
#include <set>
#include <unordered_map>
#include <string>
#include <utility>
#include <vector>

#include "io/checked.hpp"
#include "pickle/text.hpp"
#include "pthsafe/save.hpp"
#include "util/ascii.hpp"
#include "util/try.hpp"
#include "write/output_file.hpp"
#include "write/pickle_writer.hpp"
#include "write/save_node.hpp"
#include "write/tensor_bytes.hpp"
#include "write/zip_writer.hpp"

namespace pthsafe {
namespace {

using kind = save_value::kind;
using detail::pickle_writer;

// The storage class torch.save names for a dtype with a legacy typed storage
// (_rebuild_tensor_v2); empty for the dtypes torch writes through _rebuild_tensor_v3.
std::string_view storage_class(dtype t) noexcept {
  switch (t) {
    case dtype::float64: return "DoubleStorage";
    case dtype::float32: return "FloatStorage";
    case dtype::float16: return "HalfStorage";
    case dtype::bfloat16: return "BFloat16Storage";
    case dtype::complex128: return "ComplexDoubleStorage";
    case dtype::complex64: return "ComplexFloatStorage";
    case dtype::int64: return "LongStorage";
    case dtype::int32: return "IntStorage";
    case dtype::int16: return "ShortStorage";
    case dtype::int8: return "CharStorage";
    case dtype::uint8: return "ByteStorage";
    case dtype::boolean: return "BoolStorage";
    default: return {};
  }
}

// dtypes torch 2.x writes as UntypedStorage + a dtype argument (_rebuild_tensor_v3).
bool v3_dtype(dtype t) noexcept {
  switch (t) {
    case dtype::uint16:
    case dtype::uint32:
    case dtype::uint64:
    case dtype::complex32:
    case dtype::float8_e4m3fn:
    case dtype::float8_e5m2:
    case dtype::float8_e4m3fnuz:
    case dtype::float8_e5m2fnuz:
    case dtype::float8_e8m0fnu: return true;
    default: return false;
  }
}

// A dict key as Python compares it: True == 1 == 1.0, -0.0 == 0; NaN equals nothing.
std::optional<std::string> key_identity(const save_value& k) {
  const auto* n = save_access::get(k);
  switch (k.type()) {
    case kind::none: return std::string("n");
    case kind::boolean: return "i" + std::to_string(n->b ? 1 : 0);
    case kind::integer: return "i" + std::to_string(n->i);
    case kind::floating: {
      const double d = n->d;
      if (std::isnan(d)) return std::nullopt;
      if (d == std::trunc(d) && d >= -9.2e18 && d <= 9.2e18) return "i" + std::to_string(static_cast<std::int64_t>(d));
      std::array<char, 40> buf{};
      std::snprintf(buf.data(), buf.size(), "f%a", d);
      return std::string(buf.data());
    }
    case kind::string: return "s" + n->s;
    default: return std::nullopt;
  }
}

struct storage_slot {
  std::span<const std::byte> bytes;
  dtype type;
  std::string key;
};

class saver {
 public:
  result<void> value(const save_value& v, int depth);
  std::string pickle() && { return std::move(pw_).finish(); }
  const std::vector<storage_slot>& storages() const noexcept { return storages_; }

 private:
  result<void> object(const save_value& v, const save_access::node& n, int depth);
  result<void> tensor(const save_tensor& t);
  result<void> dict_items(const save_access::node& n, int depth, bool exact);
  result<std::size_t> storage_for(const save_tensor& t);

  pickle_writer pw_;
  std::vector<storage_slot> storages_;
  std::map<std::pair<const std::byte*, std::size_t>, std::size_t> by_bytes_;
  std::unordered_map<const void*, std::uint32_t> memo_of_;  // node identities: addresses, not file content
  const save_access::node empty_{};
};

result<void> saver::value(const save_value& v, int depth) {
  if (depth > save_access::max_depth) return make_error(errc::save_unsupported, "nesting deeper than 1000 levels");
  const auto* n = save_access::get(v);
  if (n != nullptr && n->ident != nullptr) {
    if (n->ref) {
      const auto it = memo_of_.find(n->ident);
      if (it == memo_of_.end()) return make_error(errc::save_unsupported, "a shared reference before its object");
      pw_.fetch(it->second);
      return {};
    }
    PTHSAFE_TRY(object(v, *n, depth));
    return {};
  }
  return object(v, n == nullptr ? empty_ : *n, depth);
}

result<void> saver::object(const save_value& v, const save_access::node& nref, int depth) {
  const auto* n = &nref;
  // Remembers where this object went in the memo (when it has an identity to be found by).
  const auto remember = [&] {
    if (n->ident != nullptr) memo_of_.emplace(n->ident, pw_.last_put());
  };
  switch (v.type()) {
    case kind::none: pw_.none(); return {};
    case kind::boolean: pw_.boolean(n->b); return {};
    case kind::integer: pw_.integer(n->i); return {};
    case kind::floating: pw_.floating(n->d); return {};
    case kind::string:
      if (!detail::valid_utf8(n->s, true)) return make_error(errc::save_unsupported, "a str that is not UTF-8");
      if (n->s.size() > 0xffffffffu) return make_error(errc::save_unsupported, "a str over 4 GiB");
      pw_.text(n->s);
      remember();
      return {};
    case kind::tensor:
      PTHSAFE_TRY(tensor(n->t));
      remember();
      return {};
    case kind::tuple: {
      const std::size_t count = n->items.size();
      if (count > 3) pw_.mark();
      for (const auto& item : n->items) PTHSAFE_TRY(value(item, depth + 1));
      pw_.tuple(count);
      if (count > 0) remember();
      return {};
    }
    case kind::list: {
      // CPython's batch_list_exact: one item -> APPEND; else batches of 1000 in MARK ... APPENDS.
      pw_.empty_list();
      remember();
      const auto& items = n->items;
      if (items.size() == 1) {
        PTHSAFE_TRY(value(items[0], depth + 1));
        pw_.append();
        return {};
      }
      for (std::size_t i = 0; i < items.size();) {
        pw_.mark();
        for (std::size_t b = 0; b < 1000 && i < items.size(); ++b, ++i) PTHSAFE_TRY(value(items[i], depth + 1));
        pw_.appends();
      }
      return {};
    }
    case kind::dict:
      pw_.empty_dict();
      remember();
      return dict_items(*n, depth, true);
    case kind::ordered_dict:
      pw_.global("collections", "OrderedDict");
      pw_.tuple(0);
      pw_.reduce();
      remember();
      PTHSAFE_TRY(dict_items(*n, depth, false));
      if (n->state) {
        PTHSAFE_TRY(value(*n->state, depth + 1));
        pw_.build();
      }
      return {};
  }
  return make_error(errc::save_unsupported, "an unknown value kind");
}

result<void> saver::dict_items(const save_access::node& n, int depth, bool exact) {
  const auto& items = n.items;
  const std::size_t pairs = items.size() / 2;
  std::set<std::string> seen;
  for (std::size_t i = 0; i < pairs; ++i) {
    const auto& k = items[2 * i];
    const auto kt = k.type();
    if (kt != kind::string && kt != kind::integer && kt != kind::floating && kt != kind::boolean && kt != kind::none) {
      return make_error(errc::save_unsupported, "a dict key that is not str, int, float, bool or None");
    }
    if (auto id = key_identity(k); id && !seen.insert(std::move(*id)).second) {
      return make_error(errc::save_duplicate_key, "a dict holds the same key twice");
    }
  }
  const auto pair = [&](std::size_t i) -> result<void> {
    PTHSAFE_TRY(value(items[2 * i], depth + 1));
    return value(items[2 * i + 1], depth + 1);
  };
  if (exact) {
    // CPython's batch_dict_exact: one pair -> SETITEM; otherwise MARK ... SETITEMS per 1000
    // pairs, and one more empty batch when the count is a multiple of 1000.
    if (pairs == 0) return {};
    if (pairs == 1) {
      PTHSAFE_TRY(pair(0));
      pw_.setitem();
      return {};
    }
    std::size_t i = 0, in_batch = 0;
    do {
      pw_.mark();
      for (in_batch = 0; in_batch < 1000 && i < pairs; ++in_batch, ++i) PTHSAFE_TRY(pair(i));
      pw_.setitems();
    } while (in_batch == 1000);
    return {};
  }
  // CPython's batch_dict over an iterator (OrderedDict's reduce): a batch of one pair is a
  // SETITEM, larger batches MARK ... SETITEMS, no empty batch.
  for (std::size_t i = 0; i < pairs;) {
    const std::size_t batch = std::min<std::size_t>(1000, pairs - i);
    if (batch == 1) {
      PTHSAFE_TRY(pair(i++));
      pw_.setitem();
      continue;
    }
    pw_.mark();
    for (std::size_t b = 0; b < batch; ++b) PTHSAFE_TRY(pair(i++));
    pw_.setitems();
  }
  return {};
}

result<std::size_t> saver::storage_for(const save_tensor& t) {
  if (!t.storage.empty()) {
    const auto key = std::make_pair(t.storage.data(), t.storage.size());
    if (const auto it = by_bytes_.find(key); it != by_bytes_.end()) {
      if (storages_[it->second].type != t.type) {
        return make_error(errc::save_bad_tensor, "one storage viewed as two dtypes (" +
                                                     std::string(dtype_name(storages_[it->second].type)) + " and " +
                                                     std::string(dtype_name(t.type)) + ")");
      }
      return it->second;
    }
    by_bytes_.emplace(key, storages_.size());
  }
  storages_.push_back({t.storage, t.type, std::to_string(storages_.size())});
  return storages_.size() - 1;
}

result<void> saver::tensor(const save_tensor& t) {
  const bool v2 = !storage_class(t.type).empty();
  if (!v2 && !v3_dtype(t.type)) {
    return make_error(errc::save_unsupported, "tensors of dtype " + std::string(dtype_name(t.type)) + " are not written");
  }
  PTHSAFE_ASSIGN(const auto extent, detail::measure(t));
  const std::vector<std::int64_t>& stride = extent.strides;
  const std::size_t ndim = t.shape.size();
  const std::uint64_t storage_numel = extent.storage_numel;
  PTHSAFE_ASSIGN(const std::size_t slot, storage_for(t));
  const storage_slot& st = storages_[slot];

  // A Parameter: _rebuild_parameter(data, requires_grad, OrderedDict()), its data a plain tensor.
  if (t.parameter) pw_.global("torch._utils", "_rebuild_parameter");
  pw_.global("torch._utils", v2 ? "_rebuild_tensor_v2" : "_rebuild_tensor_v3");
  pw_.mark();
  // The persistent id: ("storage", class, key, location, numel).
  pw_.mark();
  pw_.shared_text("storage", "storage");
  if (v2) {
    pw_.global("torch", storage_class(t.type));
  } else {
    pw_.global("torch.storage", "UntypedStorage");
  }
  pw_.shared_text("key:" + st.key, st.key);
  pw_.shared_text("cpu", "cpu");
  pw_.integer(static_cast<std::int64_t>(v2 ? storage_numel : t.storage.size()));
  pw_.tuple(5);
  pw_.binpersid();
  pw_.integer(t.storage_offset);
  if (ndim > 3) pw_.mark();
  for (const auto d : t.shape) pw_.integer(d);
  pw_.tuple(ndim);
  if (ndim > 3) pw_.mark();
  for (const auto s : stride) pw_.integer(s);
  pw_.tuple(ndim);
  pw_.boolean(t.requires_grad && !t.parameter);
  pw_.global("collections", "OrderedDict");  // backward hooks: a fresh OrderedDict()
  pw_.tuple(0);
  pw_.reduce();
  if (!v2) pw_.global("torch", dtype_name(t.type));
  pw_.tuple(v2 ? 6 : 7);
  pw_.reduce();
  if (t.parameter) {
    pw_.boolean(t.requires_grad);
    pw_.global("collections", "OrderedDict");
    pw_.tuple(0);
    pw_.reduce();
    pw_.tuple(3);
    pw_.reduce();
  }
  return {};
}

result<void> write_archive(const save_value& root, const detail::byte_sink& sink, const save_options& opts,
                           const std::string& archive) {
  saver s;
  PTHSAFE_TRY(s.value(root, 0));
  std::vector<storage_slot> storages = s.storages();
  const std::string pickle = std::move(s).pickle();

  std::vector<std::pair<std::string, std::uint64_t>> plan = {{"data.pkl", pickle.size()}, {".format_version", 1}, {".storage_alignment", 2}};
  if (opts.byteorder_record) plan.emplace_back("byteorder", 6);
  for (const auto& st : storages) plan.emplace_back("data/" + st.key, st.bytes.size());
  plan.emplace_back("version", 2);
  const std::uint64_t total = detail::zip_writer::planned_size(archive, plan);
  std::uint64_t done = 0;
  const detail::byte_sink counted = [&](std::span<const std::byte> b) {
    if (!sink(b)) return false;
    done += b.size();
    if (opts.progress) opts.progress(done, total);
    return true;
  };

  detail::zip_writer z(opts.progress ? counted : sink, archive);
  if (opts.consumed) z.on_consumed(opts.consumed);
  PTHSAFE_TRY(z.add("data.pkl", pickle));
  PTHSAFE_TRY(z.add(".format_version", "1"));
  PTHSAFE_TRY(z.add(".storage_alignment", "64"));
  if (opts.byteorder_record) PTHSAFE_TRY(z.add("byteorder", "little"));
  for (const auto& st : storages) {
    const std::array<std::span<const std::byte>, 1> one = {st.bytes};
    PTHSAFE_TRY(z.add("data/" + st.key, one));
  }
  PTHSAFE_TRY(z.add("version", "3\n"));
  return z.finish();
}

}  // namespace

std::string archive_name_for(const std::filesystem::path& path) {
  // torch's basename(): after the last '/' or '\\', up to the last '.'; Python writes files
  // with non-ASCII names itself, under "archive".
  const std::string full = path.string();
  std::size_t start = 0;
  for (std::size_t i = 0; i < full.size(); ++i) {
    if (full[i] == '/' || full[i] == '\\') start = i + 1;
  }
  std::size_t end = full.size();
  for (std::size_t i = end; i > start; --i) {
    if (full[i - 1] == '.') {
      end = i - 1;
      break;
    }
  }
  std::string name = full.substr(start, end - start);
  if (name.empty() || !detail::is_ascii(full)) return "archive";
  return name;
}

result<void> save(const save_value& root, const std::function<bool(std::span<const std::byte>)>& sink,
                  const save_options& opts) {
  return write_archive(root, sink, opts, opts.archive_name.empty() ? std::string("archive") : opts.archive_name);
}

result<std::vector<std::byte>> save_to_bytes(const save_value& root, const save_options& opts) {
  std::vector<std::byte> out;
  PTHSAFE_TRY(save(root, [&](std::span<const std::byte> b) {
    out.insert(out.end(), b.begin(), b.end());
    return true;
  }, opts));
  return out;
}

result<void> save(const save_value& root, const std::filesystem::path& path, const save_options& opts) {
  const std::string archive = opts.archive_name.empty() ? archive_name_for(path) : opts.archive_name;
  PTHSAFE_ASSIGN(auto file, detail::output_file::create(path));
  auto written = write_archive(root, [&](std::span<const std::byte> b) { return file.write(b); }, opts, archive);
  if (!written) {
    if (!file.failure().empty()) return make_error(errc::io_write, file.failure(), path.string());
    return written;
  }
  return file.commit(opts.verify);
}

}  // namespace pthsafe
