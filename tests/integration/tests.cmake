# Integration tests: the real `sturdy` binary, under mpirun where it says so.
if(TARGET sturdy)
  set(_integ ${CMAKE_CURRENT_LIST_DIR})
  add_test(NAME integration.dp_equivalence
           COMMAND ${STURDY_PYTHON} ${_integ}/dp_equivalence.py $<TARGET_FILE:sturdy>
                   ${CMAKE_CURRENT_BINARY_DIR}/integration/dp_equivalence)
  set_tests_properties(integration.dp_equivalence PROPERTIES TIMEOUT 600 LABELS "mpi;integration"
                       RUN_SERIAL ON)
endif()
if(TARGET sturdy)
  add_test(NAME integration.demo_beats_baseline
           COMMAND ${STURDY_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/demo_beats_baseline.py $<TARGET_FILE:sturdy>
                   ${PROJECT_SOURCE_DIR} ${CMAKE_CURRENT_BINARY_DIR}/integration/demo_beats_baseline)
  set_tests_properties(integration.demo_beats_baseline PROPERTIES TIMEOUT 600 LABELS "mpi;integration"
                       RUN_SERIAL ON)
endif()
if(TARGET sturdy)
  add_test(NAME integration.eval_ranks
           COMMAND ${STURDY_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/eval_ranks.py $<TARGET_FILE:sturdy>
                   ${CMAKE_CURRENT_BINARY_DIR}/integration/eval_ranks)
  set_tests_properties(integration.eval_ranks PROPERTIES TIMEOUT 600 LABELS "mpi;integration" RUN_SERIAL ON)
endif()
