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
  set_tests_properties(integration.demo_beats_baseline PROPERTIES TIMEOUT 900 LABELS "mpi;integration"
                       RUN_SERIAL ON)
endif()
if(TARGET sturdy)
  add_test(NAME integration.eval_ranks
           COMMAND ${STURDY_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/eval_ranks.py $<TARGET_FILE:sturdy>
                   ${CMAKE_CURRENT_BINARY_DIR}/integration/eval_ranks)
  set_tests_properties(integration.eval_ranks PROPERTIES TIMEOUT 600 LABELS "mpi;integration" RUN_SERIAL ON)
endif()
if(TARGET sturdy)
  # Checkpoints and resume (issue 7): exact resume after kill -9, world-size change, damage,
  # full disk, preemption signals; preemption + requeue under a real local Slurm.
  foreach(_t resume_exact resume_world_size resume_damage resume_preempt)
    add_test(NAME integration.${_t}
             COMMAND ${STURDY_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/${_t}.py $<TARGET_FILE:sturdy>
                     ${CMAKE_CURRENT_BINARY_DIR}/integration/${_t})
    set_tests_properties(integration.${_t} PROPERTIES TIMEOUT 300 LABELS "mpi;integration" RUN_SERIAL ON)
  endforeach()
  add_test(NAME integration.slurm_requeue
           COMMAND ${STURDY_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/slurm_requeue.py $<TARGET_FILE:sturdy>
                   ${PROJECT_SOURCE_DIR} ${CMAKE_CURRENT_BINARY_DIR}/integration/slurm_requeue)
  set_tests_properties(integration.slurm_requeue PROPERTIES TIMEOUT 300 LABELS "slurm;integration"
                       RUN_SERIAL ON SKIP_RETURN_CODE 77)
endif()
