// sharded_state_dict::open(): the index parsed strictly, shard names checked, shards opened on
// parallel threads, then every name matched between index and shards (sorted maps: names come
// from files, so no hash keyed by them).
#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <optional>
#include <system_error>
#include <thread>

#include "pthsafe/checkpoint.hpp"
#include "pthsafe/safetensors.hpp"
#include "pthsafe/sharded.hpp"
#include "pthsafe/state_dict.hpp"
#include "pthsafe/tensor.hpp"
#include "util/json_parse.hpp"
#include "util/try.hpp"

namespace pthsafe {

struct sharded_state_dict::impl {
  std::vector<std::string> shards;
  std::vector<std::optional<checkpoint>> checkpoints;
  std::vector<std::optional<safetensors_file>> safetensors;
  std::vector<tensor_ref> tensors;
  std::vector<std::size_t> shard_of;
  std::vector<std::pair<std::string, std::string>> metadata;
};

namespace {

error invalid(const std::string& index, const std::string& what) {
  return make_error(errc::shard_index_invalid, what, index);
}

bool plain_file_name(const std::string& n) {
  return !n.empty() && n != "." && n != ".." && n.find('/') == std::string::npos && n.find('\\') == std::string::npos &&
         n.find('\0') == std::string::npos;
}

// One shard's tensors by name.
result<std::vector<tensor_ref>> shard_tensors(const std::optional<checkpoint>& ck, const std::optional<safetensors_file>& st,
                                              const std::string& path) {
  std::vector<tensor_ref> out;
  if (st) {
    for (const auto& t : st->tensors()) out.push_back({t.name, t.type, t.shape, {}, t.bytes.data()});
    return out;
  }
  PTHSAFE_ASSIGN(auto sd, find_state_dict(*ck));
  for (const auto& e : sd.entries) {
    const tensor_view& t = e.tensor;
    if (t.is_sparse() || !t.has_storage()) {
      return make_error(errc::unsupported_feature, "'" + std::string(e.name) + "' has no dense elements", path);
    }
    out.push_back({std::string(e.name), t.element_type(), {t.shape().begin(), t.shape().end()},
                   {t.strides().begin(), t.strides().end()}, t.data()});
  }
  return out;
}

}  // namespace

sharded_state_dict::sharded_state_dict(std::unique_ptr<impl> p) noexcept : p_(std::move(p)) {}
sharded_state_dict::sharded_state_dict(sharded_state_dict&&) noexcept = default;
sharded_state_dict& sharded_state_dict::operator=(sharded_state_dict&&) noexcept = default;
sharded_state_dict::~sharded_state_dict() = default;

const std::vector<std::string>& sharded_state_dict::shards() const& noexcept { return p_->shards; }
const std::vector<tensor_ref>& sharded_state_dict::tensors() const& noexcept { return p_->tensors; }
const std::vector<std::pair<std::string, std::string>>& sharded_state_dict::metadata() const& noexcept { return p_->metadata; }
std::size_t sharded_state_dict::shard_of(std::size_t i) const {
  detail::require(p_ && i < p_->shard_of.size(), "sharded_state_dict::shard_of(i): requires i < tensors().size()");
  return p_->shard_of[i];
}

result<sharded_state_dict> sharded_state_dict::open(const std::string& index_path, const load_options& opts) {
  std::ifstream f(index_path, std::ios::binary);
  if (!f) return make_error(errc::io_open, "cannot open the index", index_path);
  std::string text;
  const auto size = std::filesystem::file_size(index_path);
  if (size > opts.limits.max_json_bytes) return make_error(errc::limit_exceeded, "max_json_bytes: the index is larger", index_path);
  text.assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
  auto parsed = detail::parse_json(text, opts.limits);
  if (!parsed) {
    error e = parsed.error_value();
    e.record = index_path;
    return e;
  }
  const detail::json_value& doc = *parsed;
  if (doc.kind != detail::json_kind::object) return invalid(index_path, "the index is not a JSON object");
  const detail::json_value* map = doc.find("weight_map");
  if (map == nullptr || map->kind != detail::json_kind::object) return invalid(index_path, "no \"weight_map\" object");

  auto p = std::make_unique<impl>();
  if (const auto* meta = doc.find("metadata"); meta != nullptr && meta->kind == detail::json_kind::object) {
    for (std::size_t i = 0; i < meta->keys.size(); ++i) {
      const auto& v = meta->items[i];
      if (v.kind == detail::json_kind::string) p->metadata.emplace_back(meta->keys[i], v.text);
      if (v.kind == detail::json_kind::integer) p->metadata.emplace_back(meta->keys[i], std::to_string(v.integer));
    }
  }
  const std::filesystem::path folder = std::filesystem::path(index_path).parent_path();
  std::map<std::string, std::size_t> shard_index;
  std::vector<std::pair<std::string, std::size_t>> listed;  // weight_map order
  for (std::size_t i = 0; i < map->keys.size(); ++i) {
    const auto& v = map->items[i];
    if (v.kind != detail::json_kind::string) return invalid(index_path, "weight_map['" + map->keys[i] + "'] is not a file name");
    if (!plain_file_name(v.text)) {
      return invalid(index_path, "weight_map['" + map->keys[i] + "'] names '" + v.text + "', not a file in the index's folder");
    }
    const auto [it, fresh] = shard_index.emplace(v.text, p->shards.size());
    if (fresh) p->shards.push_back((folder / v.text).string());
    listed.emplace_back(map->keys[i], it->second);
  }

  // Open the shards, several at a time: each open maps and validates one file.
  const std::size_t n = p->shards.size();
  p->checkpoints.resize(n);
  p->safetensors.resize(n);
  std::vector<std::optional<error>> failures(n);
  std::atomic<std::size_t> next{0};
  const auto work = [&] {
    for (std::size_t i; (i = next.fetch_add(1)) < n;) {
      const std::string& path = p->shards[i];
      if (std::filesystem::path(path).extension() == ".safetensors") {
        auto st = safetensors_file::open(path, opts.limits);
        if (st) p->safetensors[i].emplace(std::move(*st)); else failures[i] = st.error_value();
      } else {
        auto ck = checkpoint::open(path, opts);
        if (ck) p->checkpoints[i].emplace(std::move(*ck)); else failures[i] = ck.error_value();
      }
    }
  };
  std::vector<std::thread> pool;
  const unsigned threads = std::min<unsigned>(std::max(1u, std::thread::hardware_concurrency()), 8);
  for (unsigned t = 1; t < threads && t < n; ++t) {
    try {
      pool.emplace_back(work);
    } catch (const std::system_error&) {
      break;
    }
  }
  work();
  for (auto& t : pool) t.join();
  for (std::size_t i = 0; i < n; ++i) {
    if (failures[i]) {
      error e = *failures[i];
      e.message = p->shards[i] + ": " + e.message;
      return e;
    }
  }

  // Every shard's names against the index.
  std::map<std::string, std::pair<std::size_t, tensor_ref>> found;  // name -> (shard, tensor)
  for (std::size_t i = 0; i < n; ++i) {
    PTHSAFE_ASSIGN(auto ts, shard_tensors(p->checkpoints[i], p->safetensors[i], p->shards[i]));
    for (auto& t : ts) {
      std::string name = t.name;
      const auto [it, fresh] = found.emplace(std::move(name), std::make_pair(i, std::move(t)));
      if (!fresh) {
        return invalid(index_path, "'" + it->first + "' is in two shards: " + p->shards[it->second.first] + " and " + p->shards[i]);
      }
    }
  }
  for (const auto& [name, shard] : listed) {
    const auto it = found.find(name);
    if (it == found.end() || it->second.first != shard) {
      return invalid(index_path, "'" + name + "' is listed in " + p->shards[shard] + " but " +
                                     (it == found.end() ? std::string("is in no shard") : "is in " + p->shards[it->second.first]));
    }
    p->tensors.push_back(it->second.second);
    p->shard_of.push_back(shard);
  }
  if (found.size() != listed.size()) {
    for (const auto& [name, where] : found) {
      if (map->find(name) == nullptr) return invalid(index_path, "'" + name + "' is in " + p->shards[where.first] + " but not in the index");
    }
  }
  return sharded_state_dict(std::move(p));
}

}  // namespace pthsafe
