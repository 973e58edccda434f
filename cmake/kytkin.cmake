# Project-wide helpers: warnings for our own targets, and one way to declare a test.

function(kytkin_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor
                                           -Wimplicit-fallthrough)
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    # GCC 12 reports false positives inside libstdc++ string code at -O3 (GCC bug 105329).
    target_compile_options(${target} PRIVATE -Wno-restrict -Wno-stringop-overflow)
  endif()
  if(KYTKIN_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()

# kytkin_library(NAME SOURCES ... DEPS ...): a static library with the repo root on its include
# path, so headers are included as "core/amount.h".
function(kytkin_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_library(${name} STATIC ${ARG_SOURCES})
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR})
  target_link_libraries(${name} PUBLIC ${ARG_DEPS})
  kytkin_warnings(${name})
endfunction()

# kytkin_test(NAME SOURCES ... DEPS ... LABELS ...): a GoogleTest binary registered with CTest.
# Tests are discovered when ctest runs (PRE_TEST), so building does not execute them.
function(kytkin_test name)
  cmake_parse_arguments(ARG "" "TIMEOUT" "SOURCES;DEPS;LABELS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} GTest::gtest_main GTest::gmock)
  kytkin_warnings(${name})
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 300)
  endif()
  gtest_discover_tests(${name} DISCOVERY_MODE PRE_TEST TEST_LIST ${name}_TESTS
                       PROPERTIES TIMEOUT ${ARG_TIMEOUT})
  # Labels are applied by a script ctest includes after discovery: passed through PROPERTIES, a
  # list such as "unit;core;sanitized" is flattened (CMake 3.25), so only the first label stuck
  # and `ctest -L sanitized` found no unit tests.
  set(labels_file "${CMAKE_CURRENT_BINARY_DIR}/${name}_labels.cmake")
  file(WRITE "${labels_file}" "if(${name}_TESTS)\n  set_tests_properties(\${${name}_TESTS} "
                              "PROPERTIES LABELS \"${ARG_LABELS}\")\nendif()\n")
  set_property(DIRECTORY APPEND PROPERTY TEST_INCLUDE_FILES "${labels_file}")
  if("sanitized" IN_LIST ARG_LABELS)
    add_dependencies(sanitized_tests ${name})
  endif()
endfunction()

# kytkin_fuzzer(NAME SOURCES ... DEPS ... CORPUS dir): a libFuzzer target, built only with
# KYTKIN_FUZZ=ON, registered as a CTest test that fuzzes for KYTKIN_FUZZ_SECONDS (default 60)
# starting from the seed corpus kept in the repo. New inputs go to the build tree, never the repo.
function(kytkin_fuzzer name)
  if(NOT KYTKIN_FUZZ)
    return()
  endif()
  cmake_parse_arguments(ARG "" "CORPUS" "SOURCES;DEPS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS})
  target_link_options(${name} PRIVATE -fsanitize=fuzzer)
  kytkin_warnings(${name})
  add_dependencies(sanitized_tests ${name})
  set(seconds $ENV{KYTKIN_FUZZ_SECONDS})
  if(NOT seconds)
    set(seconds 60)
  endif()
  set(work_corpus ${CMAKE_BINARY_DIR}/fuzz-corpus/${name})
  file(MAKE_DIRECTORY ${work_corpus})
  add_test(NAME ${name}
           COMMAND ${name} -max_total_time=${seconds} -timeout=10 -rss_limit_mb=2048
                   -print_final_stats=1 ${work_corpus} ${ARG_CORPUS})
  math(EXPR timeout "${seconds} + 120")
  set_tests_properties(${name} PROPERTIES LABELS "sanitized;fuzz" TIMEOUT ${timeout})
endfunction()
