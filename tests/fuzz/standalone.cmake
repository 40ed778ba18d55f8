# Used by scripts/fuzz.sh (through CMAKE_PROJECT_INCLUDE) only while the top-level
# CMakeLists.txt does not add tests/fuzz itself: defines the fuzz targets at the end of the
# top-level directory, once the libraries exist.
if(NOT STURDY_FUZZ_ADDED)
  set(STURDY_FUZZ_ADDED ON)
  cmake_language(DEFER DIRECTORY ${CMAKE_SOURCE_DIR} CALL include ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz.cmake)
endif()
