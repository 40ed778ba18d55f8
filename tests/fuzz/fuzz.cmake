# libFuzzer targets (clang only). scripts/fuzz.sh configures build-fuzz with clang and
# -fsanitize=fuzzer-no-link,address,undefined for every library; the targets themselves
# link the libFuzzer driver with -fsanitize=fuzzer,address,undefined.
if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
  message(FATAL_ERROR "STURDY_FUZZ=ON needs clang: configure with CC=clang CXX=clang++ (scripts/fuzz.sh does)")
endif()

set(STURDY_FUZZ_FLAGS -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer)

# sturdy_fuzz(NAME SOURCES ... LIBS ...): executable NAME_fuzz in <build>/tests/fuzz.
function(sturdy_fuzz name)
  cmake_parse_arguments(ARG "" "" "SOURCES;LIBS" ${ARGN})
  add_executable(${name}_fuzz ${ARG_SOURCES})
  target_compile_options(${name}_fuzz PRIVATE ${STURDY_FUZZ_FLAGS} ${STURDY_WARNINGS})
  target_link_options(${name}_fuzz PRIVATE ${STURDY_FUZZ_FLAGS})
  target_link_libraries(${name}_fuzz PRIVATE ${ARG_LIBS})
  set_target_properties(${name}_fuzz PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests/fuzz)
endfunction()

set(_fz ${CMAKE_CURRENT_LIST_DIR})
sturdy_fuzz(perturb SOURCES ${_fz}/perturb_fuzz.cpp LIBS sturdy_perturb)
sturdy_fuzz(config SOURCES ${_fz}/config_fuzz.cpp LIBS sturdy_config)
sturdy_fuzz(import SOURCES ${_fz}/import_fuzz.cpp LIBS sturdy_data)
sturdy_fuzz(corpus SOURCES ${_fz}/corpus_fuzz.cpp LIBS sturdy_data)
sturdy_fuzz(ckpt SOURCES ${_fz}/ckpt_fuzz.cpp LIBS sturdy_ckpt_files)
sturdy_fuzz(tokenizer SOURCES ${_fz}/tokenizer_fuzz.cpp LIBS sturdy_text)
# The sentencepiece loader is linked in directly: the sturdy binary opens it as a plugin with
# RTLD_DEEPBIND, which the sanitizer runtime refuses.
sturdy_fuzz(spm SOURCES ${_fz}/spm_fuzz.cpp ${PROJECT_SOURCE_DIR}/src/text/sentencepiece_tokenizer.cpp
            LIBS sturdy_text PkgConfig::SENTENCEPIECE)
# The weight files' headers (llama2.c, safetensors): the LibTorch-free part of their readers.
sturdy_fuzz(llama2c SOURCES ${_fz}/llama2c_fuzz.cpp LIBS sturdy_model_headers)
sturdy_fuzz(safetensors SOURCES ${_fz}/safetensors_fuzz.cpp LIBS sturdy_model_headers)
