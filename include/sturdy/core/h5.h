// Small RAII layer over the HDF5 C API, shared by the corpus and checkpoint code.
//
// Every hid_t lives in an H5Handle whose deleter matches its kind (file, group,
// dataset, dataspace, datatype, attribute, property list), so no handle leaks,
// also when an exception unwinds. `h5_check` turns a negative HDF5 status into a
// RuntimeError naming the call and the file it was working on.
#pragma once

#include <hdf5.h>

#include <string>
#include <utility>
#include <vector>

#include "sturdy/core/error.h"

namespace sturdy::h5 {

template <herr_t (*Close)(hid_t)>
class Handle {
 public:
  Handle() = default;
  explicit Handle(hid_t id) : id_(id) {}
  ~Handle() { reset(); }
  Handle(Handle&& other) noexcept : id_(std::exchange(other.id_, H5I_INVALID_HID)) {}
  Handle& operator=(Handle&& other) noexcept {
    if (this != &other) {
      reset();
      id_ = std::exchange(other.id_, H5I_INVALID_HID);
    }
    return *this;
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;

  hid_t get() const { return id_; }
  bool valid() const { return id_ >= 0; }
  void reset() {
    if (id_ >= 0) Close(id_);
    id_ = H5I_INVALID_HID;
  }
  // Closes now and reports a failed close (a flush error shows up here for files).
  herr_t close() {
    herr_t status = id_ >= 0 ? Close(id_) : 0;
    id_ = H5I_INVALID_HID;
    return status;
  }

 private:
  hid_t id_ = H5I_INVALID_HID;
};

using File = Handle<H5Fclose>;
using Group = Handle<H5Gclose>;
using Dataset = Handle<H5Dclose>;
using Space = Handle<H5Sclose>;
using Type = Handle<H5Tclose>;
using Attr = Handle<H5Aclose>;
using Plist = Handle<H5Pclose>;

// Silences HDF5's automatic error-stack printing for the scope (we report errors ourselves).
class QuietErrors {
 public:
  QuietErrors() {
    H5Eget_auto2(H5E_DEFAULT, &func_, &data_);
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  }
  ~QuietErrors() { H5Eset_auto2(H5E_DEFAULT, func_, data_); }
  QuietErrors(const QuietErrors&) = delete;
  QuietErrors& operator=(const QuietErrors&) = delete;

 private:
  H5E_auto2_t func_ = nullptr;
  void* data_ = nullptr;
};

// Throws RuntimeError (I/O failure, exit 3) when an HDF5 call returned a negative status.
inline hid_t check(hid_t status, const char* what, const std::string& path) {
  if (status < 0) {
    throw RuntimeError(fmt::format("{}: HDF5 call {} failed (disk full or file not writable?)",
                                   path, what));
  }
  return status;
}

}  // namespace sturdy::h5
