// Writes HDF5 files whose *content* comes from the fuzz input (types, shapes, values,
// attributes; declared extents larger than the data written), for the corpus and checkpoint
// targets. Mutating the bytes of an HDF5 file instead mostly exercises libhdf5's own metadata
// parser, which hangs and leaks on damaged files (docs/reliability.md), not Sturdy's checks.
#pragma once

#include <hdf5.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include <fuzzer/FuzzedDataProvider.h>

namespace sturdy_fuzz {

// Silences libhdf5's error printing while the target writes deliberately odd files.
class QuietH5 {
 public:
  QuietH5() {
    H5Eget_auto2(H5E_DEFAULT, &func_, &data_);
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  }
  ~QuietH5() { H5Eset_auto2(H5E_DEFAULT, func_, data_); }

 private:
  H5E_auto2_t func_ = nullptr;
  void* data_ = nullptr;
};

// A numeric HDF5 type picked by the input: mostly `usual`, sometimes another one.
inline hid_t pick_type(FuzzedDataProvider& in, hid_t usual) {
  static const hid_t* others[] = {&H5T_STD_I8LE, &H5T_STD_U8LE, &H5T_STD_I32LE, &H5T_STD_I64LE,
                                  &H5T_STD_U64LE, &H5T_IEEE_F32LE, &H5T_IEEE_F64LE, &H5T_STD_I16BE};
  const uint8_t k = in.ConsumeIntegral<uint8_t>();
  return k < 200 ? usual : *others[k % 8];
}

// Creates dataset `name` (parents made as needed) of `type`. Its extent is `count` elements
// along one axis (sometimes 2-D, sometimes declared far larger than the values written, which
// HDF5 fills with zeros on read); values come from `values` (converted from int64).
inline void write_dataset(hid_t file, const std::string& name, hid_t type, FuzzedDataProvider& in,
                          const std::vector<int64_t>& values) {
  hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
  H5Pset_create_intermediate_group(lcpl, 1);
  const uint8_t shape = in.ConsumeIntegral<uint8_t>();
  hsize_t dims[2] = {values.size(), 1};
  int rank = 1;
  if (shape == 1) rank = 2;
  if (shape == 2) dims[0] = hsize_t{1} << in.ConsumeIntegralInRange<int>(20, 45);  // huge, mostly unwritten
  hid_t space = H5Screate_simple(rank, dims, nullptr);
  hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
  hsize_t chunk[2] = {std::min<hsize_t>(std::max<hsize_t>(dims[0], 1), 4096), 1};
  H5Pset_chunk(dcpl, rank, chunk);
  hid_t ds = H5Dcreate2(file, name.c_str(), type, space, lcpl, dcpl, H5P_DEFAULT);
  if (ds >= 0 && !values.empty()) {
    hsize_t start[2] = {0, 0}, count[2] = {values.size(), 1};
    hid_t mem = H5Screate_simple(1, count, nullptr);
    H5Sselect_hyperslab(space, H5S_SELECT_SET, start, nullptr, count, nullptr);
    H5Dwrite(ds, H5T_NATIVE_INT64, mem, space, H5P_DEFAULT, values.data());
    H5Sclose(mem);
  }
  if (ds >= 0) H5Dclose(ds);
  H5Pclose(dcpl);
  H5Sclose(space);
  H5Pclose(lcpl);
}

inline void write_int_attr(hid_t obj, const char* name, hid_t type, int64_t value) {
  hid_t space = H5Screate(H5S_SCALAR);
  hid_t a = H5Acreate2(obj, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
  if (a >= 0) {
    H5Awrite(a, H5T_NATIVE_INT64, &value);
    H5Aclose(a);
  }
  H5Sclose(space);
}

// A string attribute: variable-length or fixed-size, scalar or an array of `values`.
inline void write_strings_attr(hid_t obj, const char* name, const std::vector<std::string>& values,
                               bool fixed, bool scalar) {
  hid_t type = H5Tcopy(H5T_C_S1);
  size_t width = 1;
  for (const auto& v : values) width = std::max(width, v.size() + 1);
  H5Tset_size(type, fixed ? width : H5T_VARIABLE);
  H5Tset_cset(type, H5T_CSET_UTF8);
  hsize_t n = values.size();
  hid_t space = scalar ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &n, nullptr);
  hid_t a = H5Acreate2(obj, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
  if (a >= 0 && !values.empty()) {
    if (fixed) {
      std::string buf(width * (scalar ? 1 : values.size()), '\0');
      for (size_t i = 0; i < (scalar ? 1 : values.size()); ++i) buf.replace(i * width, values[i].size(), values[i]);
      H5Awrite(a, type, buf.data());
    } else {
      std::vector<const char*> ptrs;
      for (const auto& v : values) ptrs.push_back(v.c_str());
      H5Awrite(a, type, ptrs.data());
    }
  }
  if (a >= 0) H5Aclose(a);
  H5Sclose(space);
  H5Tclose(type);
}

}  // namespace sturdy_fuzz
