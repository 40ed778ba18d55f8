# GPU tests of the kernels (built when nvcc is found; each test skips without a device).
sturdy_test(kernels_gpu_test SOURCES gpu/kernels_gpu_test.cpp LIBS sturdy_engine sturdy_kernels)

# The trainer on a GPU against the CPU and itself (tests/gpu/train_checks.py; scripts/gpu-check.sh
# runs it on the GPU machine). Exits 77 (skipped) where no CUDA device is visible, in a second.
add_test(NAME gpu.train_checks
         COMMAND ${STURDY_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/train_checks.py ${PROJECT_BINARY_DIR}
                 --out ${CMAKE_CURRENT_BINARY_DIR}/gpu_train_checks)
set_tests_properties(gpu.train_checks PROPERTIES LABELS "gpu" SKIP_RETURN_CODE 77 TIMEOUT 600 RUN_SERIAL ON)
