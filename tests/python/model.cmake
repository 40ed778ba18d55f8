# sturdy_crosscheck(NAME DUMP_SOURCE SCRIPT FILES... TIMEOUT t [LIBS ...]): a C++ program
# writes FILES, then a plain-torch Python script reads the same FILES and compares.
function(sturdy_crosscheck name dump script)
  cmake_parse_arguments(ARG "" "TIMEOUT" "FILES;LIBS" ${ARGN})
  get_filename_component(target ${dump} NAME_WE)
  add_executable(${target} ${CMAKE_CURRENT_FUNCTION_LIST_DIR}/${dump})
  target_compile_options(${target} PRIVATE ${STURDY_WARNINGS})
  target_link_libraries(${target} PRIVATE sturdy_engine ${ARG_LIBS})
  target_precompile_headers(${target} REUSE_FROM sturdy_torch_pch)
  list(JOIN ARG_FILES " " files)
  add_test(NAME ${name}
           COMMAND sh -c "\"$<TARGET_FILE:${target}>\" ${files} && \"${STURDY_PYTHON}\" \"${CMAKE_CURRENT_FUNCTION_LIST_DIR}/${script}\" ${files}"
           WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
  set_tests_properties(${name} PROPERTIES TIMEOUT ${ARG_TIMEOUT} LABELS python)
endfunction()

# Model cross-check: model_dump writes a few seeded models, their inputs and outputs to HDF5;
# model_crosscheck.py re-implements the architecture in plain torch and compares.
sturdy_crosscheck(python_model_crosscheck model_dump.cpp model_crosscheck.py
                  FILES model_crosscheck.h5 TIMEOUT 300 LIBS hdf5::hdf5)

# Objective cross-check: one FreeLB and one SMART update recomputed in plain torch.
sturdy_crosscheck(python_objective_crosscheck objective_dump.cpp objective_crosscheck.py
                  FILES objective_crosscheck.h5 TIMEOUT 300)

# AdamW cross-check: a few steps of Sturdy's AdamW replayed through torch.optim.AdamW.
sturdy_crosscheck(python_optimizer_crosscheck optimizer_dump.cpp optimizer_crosscheck.py
                  FILES optimizer_crosscheck.h5 optimizer_crosscheck.json TIMEOUT 120)
