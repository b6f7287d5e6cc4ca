# Fuzz targets: denali_add_fuzzer(NAME SOURCES src... [INCLUDES dir...] [LIBS name...]).
#
# With clang's libFuzzer (Debian package clang) a target is built by clang
# with -fsanitize=fuzzer,address,undefined; the project's compiler may be
# gcc, so clang is invoked directly by a custom command. Without it, the
# same sources link against tests/fuzz_driver.c (a deterministic mutation
# driver that accepts the same command line) under gcc's ASan and UBSan.
# Either way the binary lands in build/bin/NAME.

find_program(DENALI_CLANG NAMES clang clang-16 clang-15 clang-14)
if(DENALI_CLANG AND NOT DEFINED DENALI_LIBFUZZER)
  set(probe ${CMAKE_BINARY_DIR}/CMakeFiles/fuzzprobe.c)
  file(WRITE ${probe} "#include <stddef.h>\n#include <stdint.h>\n"
    "int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);\n"
    "int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }\n")
  execute_process(COMMAND ${DENALI_CLANG} -fsanitize=fuzzer,address,undefined ${probe}
                  -o ${CMAKE_BINARY_DIR}/CMakeFiles/fuzzprobe
                  RESULT_VARIABLE rc OUTPUT_QUIET ERROR_QUIET)
  if(rc EQUAL 0)
    set(DENALI_LIBFUZZER ON CACHE BOOL "fuzz targets use clang's libFuzzer")
  else()
    set(DENALI_LIBFUZZER OFF CACHE BOOL "fuzz targets use clang's libFuzzer")
  endif()
endif()
if(DENALI_LIBFUZZER)
  message(STATUS "fuzz targets: clang libFuzzer (${DENALI_CLANG})")
else()
  message(STATUS "fuzz targets: tests/fuzz_driver.c under gcc ASan/UBSan (no libFuzzer)")
endif()

set(DENALI_FUZZ_SAN -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)

function(denali_add_fuzzer name)
  cmake_parse_arguments(F "" "" "SOURCES;INCLUDES;LIBS" ${ARGN})
  set(libs "")
  foreach(l ${F_LIBS})
    list(APPEND libs -l${l})
  endforeach()
  set(out ${CMAKE_RUNTIME_OUTPUT_DIRECTORY}/${name})
  if(DENALI_LIBFUZZER)
    set(srcs "")
    set(incs "")
    set(deps "")
    foreach(s ${F_SOURCES})
      get_filename_component(abs ${s} ABSOLUTE)
      list(APPEND srcs ${abs})
      list(APPEND deps ${abs})
    endforeach()
    foreach(i ${F_INCLUDES} ${CMAKE_SOURCE_DIR}/include ${CMAKE_SOURCE_DIR}/tests)
      list(APPEND incs -I${i})
      file(GLOB hdrs ${i}/*.h ${i}/denali/*.h)
      list(APPEND deps ${hdrs})
    endforeach()
    add_custom_command(OUTPUT ${out}
      COMMAND ${DENALI_CLANG} -g -O1 -std=gnu11 -D_GNU_SOURCE ${DENALI_WARNINGS}
              -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
              ${incs} ${srcs} ${libs} -o ${out}
      DEPENDS ${deps}
      COMMENT "clang libFuzzer: ${name}" VERBATIM)
    add_custom_target(${name} ALL DEPENDS ${out})
  else()
    add_executable(${name} ${F_SOURCES} ${CMAKE_SOURCE_DIR}/tests/fuzz_driver.c)
    target_include_directories(${name} PRIVATE ${F_INCLUDES} ${CMAKE_SOURCE_DIR}/tests)
    target_compile_options(${name} PRIVATE ${DENALI_FUZZ_SAN} -O1)
    target_link_options(${name} PRIVATE ${DENALI_FUZZ_SAN})
    target_link_libraries(${name} PRIVATE ${F_LIBS})
  endif()
endfunction()

# denali_add_fuzz_test(TEST NAME FUZZER RUNS N MAX_LEN L CORPUS dir...):
# a short, bounded, seeded run in CTest. New inputs go to a scratch corpus
# in the build tree (never into the source tree), crash files beside it.
function(denali_add_fuzz_test test)
  cmake_parse_arguments(F "" "FUZZER;RUNS;MAX_LEN" "CORPUS" ${ARGN})
  set(scratch ${CMAKE_CURRENT_BINARY_DIR}/${test}-corpus)
  file(MAKE_DIRECTORY ${scratch})
  add_test(NAME ${test}
    COMMAND ${CMAKE_RUNTIME_OUTPUT_DIRECTORY}/${F_FUZZER} -runs=${F_RUNS} -seed=1
            -max_len=${F_MAX_LEN} -artifact_prefix=${CMAKE_CURRENT_BINARY_DIR}/${test}-
            -print_final_stats=1 ${scratch} ${F_CORPUS})
  set_tests_properties(${test} PROPERTIES TIMEOUT 180)
endfunction()
