# Python cross-checks: files written by Sturdy, read back with Debian's h5py/torch alone.

# Corpus v1: make_test_corpus writes a corpus with known contents (and a JSON of what it
# wrote); h5py_read_corpus.py reads it with h5py only and checks every attribute and dataset.
add_executable(make_test_corpus ${CMAKE_CURRENT_LIST_DIR}/make_corpus.cpp)
target_compile_options(make_test_corpus PRIVATE ${STURDY_WARNINGS})
target_link_libraries(make_test_corpus PRIVATE sturdy_data)

add_test(NAME python_corpus_h5py
         COMMAND sh -c "\"$<TARGET_FILE:make_test_corpus>\" corpus_h5py.h5 corpus_h5py.json && \"${STURDY_PYTHON}\" \"${CMAKE_CURRENT_LIST_DIR}/h5py_read_corpus.py\" corpus_h5py.h5 corpus_h5py.json"
         WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
set_tests_properties(python_corpus_h5py PROPERTIES TIMEOUT 120 LABELS python)

