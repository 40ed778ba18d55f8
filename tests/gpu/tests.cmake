# GPU tests of the kernels (built when nvcc is found; each test skips without a device).
sturdy_test(kernels_gpu_test SOURCES gpu/kernels_gpu_test.cpp LIBS sturdy_engine sturdy_kernels)
