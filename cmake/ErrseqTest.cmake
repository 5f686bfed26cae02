# One function registers every test. errseq_check_tests_registered() fails the configure step
# when a *_test.cc exists under tests/ that no errseq_add_test() call named, so a test can never
# silently stop running (leveldb's CMake once did exactly that).

set_property(GLOBAL PROPERTY ERRSEQ_REGISTERED_TESTS "")

# errseq_add_test(NAME <name> SOURCES <files...> LIBS <targets...> [LABELS <labels...>]
#                 [TIMEOUT <seconds>] [WRAPPER <command...>])
# Labels: 'unit' (default) or 'concurrency' (also run under ThreadSanitizer). WRAPPER: ctest
# runs the test binary as its last argument.
function(errseq_add_test)
  cmake_parse_arguments(T "" "NAME;TIMEOUT" "SOURCES;LIBS;LABELS;WRAPPER" ${ARGN})
  if(NOT T_LABELS)
    set(T_LABELS unit)
  endif()
  foreach(src IN LISTS T_SOURCES)
    get_filename_component(abs "${src}" ABSOLUTE)
    set_property(GLOBAL APPEND PROPERTY ERRSEQ_REGISTERED_TESTS "${abs}")
  endforeach()
  if(ERRSEQ_TEST_LABEL AND NOT ERRSEQ_TEST_LABEL IN_LIST T_LABELS)
    return()
  endif()
  add_executable(${T_NAME} ${T_SOURCES})
  target_link_libraries(${T_NAME} PRIVATE ${T_LIBS} GTest::gtest GTest::gtest_main
                                          Threads::Threads)
  if(T_WRAPPER)
    add_test(NAME ${T_NAME} COMMAND ${T_WRAPPER} $<TARGET_FILE:${T_NAME}>)
  else()
    add_test(NAME ${T_NAME} COMMAND ${T_NAME})
  endif()
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 600)
  endif()
  set_tests_properties(${T_NAME} PROPERTIES LABELS "${T_LABELS}" TIMEOUT ${T_TIMEOUT})
endfunction()

function(errseq_check_tests_registered)
  file(GLOB_RECURSE found CONFIGURE_DEPENDS "${PROJECT_SOURCE_DIR}/tests/*_test.cc"
       "${PROJECT_SOURCE_DIR}/src/*_test.cc")
  get_property(registered GLOBAL PROPERTY ERRSEQ_REGISTERED_TESTS)
  set(missing "")
  foreach(f IN LISTS found)
    if(NOT f IN_LIST registered)
      list(APPEND missing "${f}")
    endif()
  endforeach()
  if(missing)
    list(JOIN missing "\n  " pretty)
    message(FATAL_ERROR "test files not registered with errseq_add_test():\n  ${pretty}")
  endif()
endfunction()
