// A loaded checkpoint shared by every torch tensor made from it: each storage handed to torch
// (through DLPack) owns a shared reference, so the checkpoint's buffers, and the Python object
// whose bytes it views (the copy-on-write mapping of mmap=True), live exactly as long as the
// last tensor that uses them.
#pragma once

#include <nanobind/nanobind.h>

#include <utility>

#include "pthsafe/checkpoint.hpp"

namespace pthsafe::py {

struct loaded {
  loaded(checkpoint c, nanobind::object keep) : ck(std::move(c)), keepalive(std::move(keep)) {}
  loaded(const loaded&) = delete;
  loaded& operator=(const loaded&) = delete;
  // The last owner may be a DLPack deleter that torch runs without the GIL: dropping the
  // Python reference needs it (PyGILState_Ensure is re-entrant when it is already held).
  ~loaded() {
    nanobind::gil_scoped_acquire gil;
    keepalive.reset();
  }

  checkpoint ck;
  nanobind::object keepalive;  ///< the buffer `ck` views (mmap object), or None
};

}  // namespace pthsafe::py
