# Model cross-check: model_dump writes a few seeded models, their inputs and outputs to HDF5;
# model_crosscheck.py re-implements the architecture in plain torch and compares.
add_executable(model_dump ${CMAKE_CURRENT_LIST_DIR}/model_dump.cpp)
target_compile_options(model_dump PRIVATE ${STURDY_WARNINGS})
target_link_libraries(model_dump PRIVATE sturdy_engine hdf5::hdf5)
target_precompile_headers(model_dump REUSE_FROM sturdy_engine)

add_test(NAME python_model_crosscheck
         COMMAND sh -c "\"$<TARGET_FILE:model_dump>\" model_crosscheck.h5 && \"${STURDY_PYTHON}\" \"${CMAKE_CURRENT_LIST_DIR}/model_crosscheck.py\" model_crosscheck.h5"
         WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
set_tests_properties(python_model_crosscheck PROPERTIES TIMEOUT 300 LABELS python)

# Objective cross-check: one FreeLB and one SMART update recomputed in plain torch.
add_executable(objective_dump ${CMAKE_CURRENT_LIST_DIR}/objective_dump.cpp)
target_compile_options(objective_dump PRIVATE ${STURDY_WARNINGS})
target_link_libraries(objective_dump PRIVATE sturdy_engine)
target_precompile_headers(objective_dump REUSE_FROM sturdy_engine)
add_test(NAME python_objective_crosscheck
         COMMAND sh -c "\"$<TARGET_FILE:objective_dump>\" objective_crosscheck.h5 && \"${STURDY_PYTHON}\" \"${CMAKE_CURRENT_LIST_DIR}/objective_crosscheck.py\" objective_crosscheck.h5"
         WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
set_tests_properties(python_objective_crosscheck PROPERTIES TIMEOUT 300 LABELS python)

# AdamW cross-check: a few steps of Sturdy's AdamW replayed through torch.optim.AdamW.
add_executable(optimizer_dump ${CMAKE_CURRENT_LIST_DIR}/optimizer_dump.cpp)
target_compile_options(optimizer_dump PRIVATE ${STURDY_WARNINGS})
target_link_libraries(optimizer_dump PRIVATE sturdy_engine)
target_precompile_headers(optimizer_dump REUSE_FROM sturdy_engine)
add_test(NAME python_optimizer_crosscheck
         COMMAND sh -c "\"$<TARGET_FILE:optimizer_dump>\" optimizer_crosscheck.h5 optimizer_crosscheck.json && \"${STURDY_PYTHON}\" \"${CMAKE_CURRENT_LIST_DIR}/optimizer_crosscheck.py\" optimizer_crosscheck.h5 optimizer_crosscheck.json"
         WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
set_tests_properties(python_optimizer_crosscheck PROPERTIES TIMEOUT 120 LABELS python)
