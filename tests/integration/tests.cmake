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
                       RUN_SERIAL ON SKIP_RETURN_CODE 77)
endif()
if(TARGET sturdy)
  add_test(NAME integration.eval_ranks
           COMMAND ${STURDY_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/eval_ranks.py $<TARGET_FILE:sturdy>
                   ${CMAKE_CURRENT_BINARY_DIR}/integration/eval_ranks)
  set_tests_properties(integration.eval_ranks PROPERTIES TIMEOUT 600 LABELS "mpi;integration" RUN_SERIAL ON)
endif()
if(TARGET sturdy)
  # Checkpoints and resume (issue 7): exact resume after kill -9, world-size change, damage,
  # full disk, preemption signals; preemption + requeue under a real local Slurm. Exact resume
  # of every objective with augmentation and subword sampling (issue 17: resume_objectives).
  foreach(_t resume_exact resume_world_size resume_preempt resume_objectives)
    add_test(NAME integration.${_t}
             COMMAND ${STURDY_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/${_t}.py $<TARGET_FILE:sturdy>
                     ${CMAKE_CURRENT_BINARY_DIR}/integration/${_t})
    set_tests_properties(integration.${_t} PROPERTIES TIMEOUT 300 LABELS "mpi;integration" RUN_SERIAL ON)
  endforeach()
  # The disk-full case mounts a tmpfs: its own test, skipped (77) with the reason without root.
  add_test(NAME integration.resume_damage
           COMMAND ${STURDY_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/resume_damage.py $<TARGET_FILE:sturdy>
                   ${CMAKE_CURRENT_BINARY_DIR}/integration/resume_damage bitflip)
  add_test(NAME integration.resume_damage_disk_full
           COMMAND ${STURDY_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/resume_damage.py $<TARGET_FILE:sturdy>
                   ${CMAKE_CURRENT_BINARY_DIR}/integration/resume_damage_disk_full disk-full)
  set_tests_properties(integration.resume_damage integration.resume_damage_disk_full PROPERTIES
                       TIMEOUT 300 LABELS "mpi;integration" RUN_SERIAL ON SKIP_RETURN_CODE 77)
  add_test(NAME integration.slurm_requeue
           COMMAND ${STURDY_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/slurm_requeue.py $<TARGET_FILE:sturdy>
                   ${PROJECT_SOURCE_DIR} ${CMAKE_CURRENT_BINARY_DIR}/integration/slurm_requeue)
  set_tests_properties(integration.slurm_requeue PROPERTIES TIMEOUT 300 LABELS "slurm;integration"
                       RUN_SERIAL ON SKIP_RETURN_CODE 77)
  # cluster/slurm/scaling.py: a 1- and 2-rank sweep under the local Slurm; CSV and plot.
  add_test(NAME integration.slurm_scaling
           COMMAND ${STURDY_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/slurm_scaling.py $<TARGET_FILE:sturdy>
                   ${PROJECT_SOURCE_DIR} ${CMAKE_CURRENT_BINARY_DIR}/integration/slurm_scaling)
  set_tests_properties(integration.slurm_scaling PROPERTIES TIMEOUT 240 LABELS "slurm;integration"
                       RUN_SERIAL ON SKIP_RETURN_CODE 77)
endif()
if(TARGET sturdy)
  # Pretrained LMs (issue 9): generate/export/prepare --window on stories260K; skipped (77)
  # when $STURDY_SHARED_DATA/stories260k (default ${STURDY_SHARED_DATA}) is absent.
  add_test(NAME integration.generate_stories
           COMMAND ${STURDY_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/generate_stories.py $<TARGET_FILE:sturdy>
                   ${STURDY_SHARED_DATA}/stories260k
                   ${CMAKE_CURRENT_BINARY_DIR}/integration/generate_stories)
  set_tests_properties(integration.generate_stories PROPERTIES TIMEOUT 300 LABELS "integration"
                       SKIP_RETURN_CODE 77)
endif()
if(TARGET sturdy)
  # stories260K in plain torch: llama2.c forward on the .bin and HF (rotate_half) forward on
  # the `sturdy export` folder agree with `sturdy generate` (tests/python/generate_crosscheck.py).
  add_test(NAME python_generate_crosscheck
           COMMAND ${STURDY_PYTHON} ${PROJECT_SOURCE_DIR}/tests/python/generate_crosscheck.py $<TARGET_FILE:sturdy>
                   ${STURDY_SHARED_DATA}/stories260k
                   ${CMAKE_CURRENT_BINARY_DIR}/integration/generate_crosscheck)
  set_tests_properties(python_generate_crosscheck PROPERTIES TIMEOUT 300 LABELS "python;integration"
                       SKIP_RETURN_CODE 77)
endif()
if(TARGET sturdy)
  # Hardening (issue 11): the bad-input catalogue and the trainer's numerical guard.
  foreach(_t bad_input numeric_guard)
    add_test(NAME integration.${_t}
             COMMAND ${STURDY_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/${_t}.py $<TARGET_FILE:sturdy>
                     ${CMAKE_CURRENT_BINARY_DIR}/integration/${_t})
    set_tests_properties(integration.${_t} PROPERTIES TIMEOUT 400 LABELS "mpi;integration" RUN_SERIAL ON)
  endforeach()
  # The full-disk case of the catalogue mounts a tmpfs: skipped (77) with the reason without root.
  add_test(NAME integration.bad_input_disk_full
           COMMAND ${STURDY_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/bad_input.py $<TARGET_FILE:sturdy>
                   ${CMAKE_CURRENT_BINARY_DIR}/integration/bad_input_disk_full disk-full)
  set_tests_properties(integration.bad_input_disk_full PROPERTIES TIMEOUT 300 LABELS "integration"
                       RUN_SERIAL ON SKIP_RETURN_CODE 77)
endif()
if(TARGET sturdy)
  # LM training (issue 9): data-parallel equivalence of LM consistency (with and without length
  # bucketing), a short run that learns, LM eval, and the causal check.
  add_test(NAME integration.lm_train
           COMMAND ${STURDY_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/lm_train.py $<TARGET_FILE:sturdy>
                   ${CMAKE_CURRENT_BINARY_DIR}/integration/lm_train)
  set_tests_properties(integration.lm_train PROPERTIES TIMEOUT 600 LABELS "mpi;integration" RUN_SERIAL ON)
endif()
if(TARGET sturdy)
  # Golden loss curve (issue 17): 30 steps must reproduce tests/integration/golden/loss_30.json;
  # STURDY_GOLDEN_REGEN=1 rewrites it (docs/reliability.md, "Numerics tests").
  add_test(NAME integration.golden_loss
           COMMAND ${STURDY_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/golden_loss.py $<TARGET_FILE:sturdy>
                   ${CMAKE_CURRENT_BINARY_DIR}/integration/golden_loss)
  set_tests_properties(integration.golden_loss PROPERTIES TIMEOUT 300 LABELS "integration")
endif()
if(TARGET sturdy)
  # Robustness gates (issue 20): `sturdy gate` on a hand-written R.json, `sturdy eval --gate` on a
  # tiny model (1 and 2 ranks), exit codes 0/1/2 and the gate section of R.json.
  add_test(NAME integration.gate
           COMMAND ${STURDY_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/gate.py $<TARGET_FILE:sturdy>
                   ${CMAKE_CURRENT_BINARY_DIR}/integration/gate)
  set_tests_properties(integration.gate PROPERTIES TIMEOUT 300 LABELS "mpi;integration" RUN_SERIAL ON)
endif()
