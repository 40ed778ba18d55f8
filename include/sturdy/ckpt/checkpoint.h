// Checkpoints (layout below and in docs/cluster.md): the LibTorch side (save, load into parameters).
// The file checks that need no LibTorch (state.json, `latest`, discovery, sha256, tensor-file
// validation) are in files.h.
//
//   RUN/checkpoints/step_00001200/   written as step_00001200.tmp/, fsynced, renamed
//       model.h5       one float32 dataset per parameter, named by module path, Fletcher32
//       optimizer.h5   AdamW moments per parameter ("<name>.exp_avg", "<name>.exp_avg_sq")
//       objective.h5   only for objectives that keep state between steps (FreeAT): every
//                      rank's tensors, "<name>.rank<r>" (e.g. delta.rank1), in their own shape
//       state.json     step, epoch, consumed_samples, seed, world size, resolved config,
//                      label names, sturdy version, sha256 of model.h5, optimizer.h5 (and
//                      objective.h5 when written)
//   RUN/checkpoints/latest           the newest complete checkpoint's folder name
//
// Only rank 0 writes; every rank reads. Loading checks names, shapes and checksums.
// The rename of step_N.tmp/ to step_N/ followed by the replacement of `latest` is the commit
// point: a crash at any moment leaves either the old or the new checkpoint complete. Older
// checkpoints are pruned (keep the last K) only after the new one is committed.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "sturdy/ckpt/files.h"
#include "sturdy/distributed/context.h"
#include "sturdy/model/named_parameter.h"

namespace sturdy::ckpt {

// Writes a checkpoint for `state.step` under run_dir/checkpoints and points `latest` at it.
// Returns the checkpoint folder. Throws RuntimeError naming the path on I/O failure;
// earlier checkpoints are never touched before the new one is complete.
// `objective` (from gather_rank_tensors), when not empty, goes to objective.h5.
std::string save(const std::string& run_dir, const std::vector<NamedParameter>& model,
                 const std::vector<NamedParameter>& optimizer, const TrainState& state,
                 const std::vector<NamedParameter>& objective = {});

// Fills `into` (names and shapes must match the file) from model.h5 / optimizer.h5;
// verifies the sha256 recorded in state.json first.
void load_model(const std::string& checkpoint_dir, const std::vector<NamedParameter>& into);
void load_optimizer(const std::string& checkpoint_dir, const std::vector<NamedParameter>& into);
// Reads `names` from objective.h5, each in the shape it was stored with, after checking its
// sha256. UsageError naming objective.h5 when state.json does not list it (a checkpoint of
// an objective without state, or from before objective.h5 existed) or a name is missing.
std::vector<NamedParameter> load_objective(const std::string& checkpoint_dir, const std::vector<std::string>& names);

// Collective: every rank's `local` tensors on rank 0, named "<name>.rank<r>" in rank order
// (empty on other ranks). Tensors are sent as float32.
std::vector<NamedParameter> gather_rank_tensors(const dist::Context& ctx, const std::vector<NamedParameter>& local);
// The name rank `rank`'s tensor `name` has in objective.h5.
std::string rank_tensor_name(const std::string& name, int rank);

// Writes named float32 tensors to an HDF5 file (one dataset each, Fletcher32) / reads them back.
void write_tensors(const std::string& path, const std::vector<NamedParameter>& tensors);
void read_tensors(const std::string& path, const std::vector<NamedParameter>& into);

}  // namespace sturdy::ckpt
