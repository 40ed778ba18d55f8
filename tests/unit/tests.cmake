# Unit tests, one file per module. Each helper owns the block for its module.
sturdy_test(core_test SOURCES unit/core_test.cpp LIBS sturdy_core)
sturdy_test(config_test SOURCES unit/config_test.cpp LIBS sturdy_config)
sturdy_test(model_test SOURCES unit/model_test.cpp LIBS sturdy_engine)
sturdy_test(text_test SOURCES unit/text_test.cpp LIBS sturdy_text PkgConfig::SENTENCEPIECE)
sturdy_test(data_test SOURCES unit/data_test.cpp LIBS sturdy_data)
sturdy_test(sampler_test SOURCES unit/sampler_test.cpp LIBS sturdy_data)
sturdy_test(perturb_test SOURCES unit/perturb_test.cpp LIBS sturdy_perturb)
sturdy_test(perturb_lexicons_test SOURCES unit/perturb_lexicons_test.cpp LIBS sturdy_perturb)
sturdy_test(adversarial_test SOURCES unit/adversarial_test.cpp LIBS sturdy_engine)
sturdy_test(kernels_test SOURCES unit/kernels_test.cpp LIBS sturdy_engine)
if(STURDY_HAVE_CUDA)  # kernels on a GPU; each test skips when there is no device
  include(${CMAKE_CURRENT_SOURCE_DIR}/gpu/tests.cmake)
endif()
