// Owner of the precompiled <torch/torch.h> that every LibTorch library, executable and test
// reuses (src/CMakeLists.txt, sturdy_torch_pch); it has no code of its own.
