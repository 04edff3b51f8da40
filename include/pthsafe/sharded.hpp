// pthsafe/sharded.hpp - a Hugging Face style sharded checkpoint (`pytorch_model.bin.index.json`,
// `model.safetensors.index.json`) read as one state_dict across its shards.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "pthsafe/diff.hpp"
#include "pthsafe/error.hpp"
#include "pthsafe/export.hpp"
#include "pthsafe/options.hpp"

namespace pthsafe {

/// The state_dict of a sharded checkpoint. Opening validates the index and every shard:
///   - the index is strict JSON: {"metadata": {...}, "weight_map": {"name": "shard file", ...}};
///   - a shard is a plain file name in the index's folder (no separator, not "." or ".."), read
///     as a checkpoint (its state_dict, found as find_state_dict finds it) or, for
///     ".safetensors", as a safetensors file; shards are opened on parallel threads;
///   - every name the index lists is in the shard it names; no name is in two shards; no shard
///     holds a name the index does not list (readers that load whole shards would see it).
/// Errors: io_open and every error of checkpoint::open / safetensors_file::open (the record is
/// the shard's path), json_malformed, json_duplicate_key, shard_index_invalid naming the rule.
/// Move-only; tensors() views the shards, which live as long as this object.
class PTHSAFE_API sharded_state_dict {
 public:
  static result<sharded_state_dict> open(const std::string& index_path, const load_options& opts = {});
  sharded_state_dict(sharded_state_dict&&) noexcept;
  sharded_state_dict& operator=(sharded_state_dict&&) noexcept;
  ~sharded_state_dict();

  /// Shard paths (the index's folder joined with each name), in the order the index first names them.
  const std::vector<std::string>& shards() const& noexcept;
  const std::vector<std::string>& shards() const&& = delete;
  /// Every tensor, in the index's weight_map order; each views its shard's memory.
  const std::vector<tensor_ref>& tensors() const& noexcept;
  const std::vector<tensor_ref>& tensors() const&& = delete;
  /// Index into shards() of tensors()[i]. Requires i < tensors().size().
  std::size_t shard_of(std::size_t i) const;
  /// The index's "metadata" members whose values are numbers or strings, as text.
  const std::vector<std::pair<std::string, std::string>>& metadata() const& noexcept;
  const std::vector<std::pair<std::string, std::string>>& metadata() const&& = delete;

 private:
  struct impl;
  explicit sharded_state_dict(std::unique_ptr<impl> p) noexcept;
  std::unique_ptr<impl> p_;
};

}  // namespace pthsafe
