# Integration tests: the real `sturdy` binary, under mpirun where it says so.
if(TARGET sturdy)
  set(_integ ${CMAKE_CURRENT_LIST_DIR})
  add_test(NAME integration.dp_equivalence
           COMMAND ${STURDY_PYTHON} ${_integ}/dp_equivalence.py $<TARGET_FILE:sturdy>
                   ${CMAKE_CURRENT_BINARY_DIR}/integration/dp_equivalence)
  set_tests_properties(integration.dp_equivalence PROPERTIES TIMEOUT 600 LABELS "mpi;integration"
                       RUN_SERIAL ON)
endif()
