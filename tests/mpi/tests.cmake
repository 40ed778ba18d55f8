# MPI tests: gtest binaries under ${STURDY_MPIRUN} -np N, and the real `sturdy` binary
# under mpirun from Python (loss curves on 1/2/3 ranks, failure handling).
if(TARGET sturdy_engine)
  add_executable(dist_mpi_test ${CMAKE_CURRENT_LIST_DIR}/dist_test.cpp)
  target_link_libraries(dist_mpi_test PRIVATE sturdy_engine GTest::gtest)
  target_compile_options(dist_mpi_test PRIVATE ${STURDY_WARNINGS})
  target_precompile_headers(dist_mpi_test REUSE_FROM sturdy_torch_pch)
  foreach(n 2 3)
    add_test(NAME mpi.dist_${n} COMMAND ${STURDY_MPIRUN} -np ${n} $<TARGET_FILE:dist_mpi_test>)
    set_tests_properties(mpi.dist_${n} PROPERTIES TIMEOUT 120 RUN_SERIAL ON LABELS mpi
                         ENVIRONMENT OMP_NUM_THREADS=1)
  endforeach()
endif()
if(TARGET sturdy)
  set(_mpi_dir ${CMAKE_CURRENT_LIST_DIR})
  foreach(script loss_curves failures)
    add_test(NAME mpi.${script}
             COMMAND ${STURDY_PYTHON} ${_mpi_dir}/${script}.py $<TARGET_FILE:sturdy>
                     ${CMAKE_CURRENT_BINARY_DIR}/mpi/${script})
    set_tests_properties(mpi.${script} PROPERTIES TIMEOUT 300 RUN_SERIAL ON LABELS "mpi;integration")
  endforeach()
endif()
