# Unit tests: one cmocka executable per module; every test inside it becomes its own ctest
# entry (its own process, its own time limit). Tests are found by their T(name) lines.
function(sd_add_unit_test module)
  cmake_parse_arguments(A "" "" "BACKENDS;SOURCES;LIBS" ${ARGN})
  set(exe test_${module})
  add_executable(${exe} tests/unit/test_${module}.c tests/unit/sd_test.c ${A_SOURCES})
  target_include_directories(${exe} PRIVATE tests/unit)
  target_link_libraries(${exe} PRIVATE sockdrill::sockdrill PkgConfig::CMOCKA Threads::Threads ${A_LIBS})
  # Every T(name) in the file, however the formatter lays the table out.
  file(READ tests/unit/test_${module}.c content)
  # A test added to the file re-runs this at the next build, so ctest knows it.
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS tests/unit/test_${module}.c)
  string(REGEX MATCHALL "[^a-zA-Z0-9_]T\\([a-z0-9_]+\\)" found "${content}")
  list(LENGTH found count)
  if(NOT A_BACKENDS)
    set(A_BACKENDS none)
  endif()
  # A guard entry: the binary's own table must hold exactly the tests registered here.
  add_test(NAME ${module}.all_tests_registered COMMAND ${exe} --expect-count ${count})
  foreach(line IN LISTS found)
    string(REGEX REPLACE ".*T\\(([a-z0-9_]+)\\)" "\\1" name "${line}")
    foreach(b IN LISTS A_BACKENDS)
      if(b STREQUAL "none")
        set(tname ${module}.${name})
      else()
        set(tname ${module}.${b}.${name})
      endif()
      add_test(NAME ${tname} COMMAND ${exe} --backend ${b} --only ${name})
      set_tests_properties(${tname} PROPERTIES TIMEOUT 60)
    endforeach()
  endforeach()
endfunction()

sd_add_unit_test(sockets BACKENDS real sim)
sd_add_unit_test(actors BACKENDS real sim)
sd_add_unit_test(core)
sd_add_unit_test(util)
sd_add_unit_test(diff)
target_compile_definitions(test_diff PRIVATE
  SD_DIFF_CORPUS="${CMAKE_CURRENT_SOURCE_DIR}/corpus/sim_vs_kernel"
  SD_DOCS_DIR="${CMAKE_CURRENT_SOURCE_DIR}/docs")
sd_add_unit_test(sim)
sd_add_unit_test(sim_profile)
sd_add_unit_test(sim_config)
sd_add_unit_test(sim_cork)
sd_add_unit_test(scenario BACKENDS real sim)
sd_add_unit_test(fault BACKENDS real sim)
sd_add_unit_test(trace BACKENDS real sim)
# The server fuzz driver, without a fuzzing engine: its inputs come from the test.
sd_add_unit_test(fuzz_server SOURCES ${SD_DRIVER_SOURCES} LIBS sockdrill_inproc)
target_include_directories(test_fuzz_server PRIVATE src/driver/fuzz src/driver/fuzz/include src/interpose)
target_link_libraries(test_fuzz_server PRIVATE ${CMAKE_DL_LIBS})
# Its dialogs, custom clients, oracles and persistent mode.
sd_add_unit_test(dialogs SOURCES ${SD_DRIVER_SOURCES} LIBS sockdrill_inproc)
target_include_directories(test_dialogs PRIVATE src/driver/fuzz src/driver/fuzz/include src/interpose)
target_link_libraries(test_dialogs PRIVATE ${CMAKE_DL_LIBS})
# A fuzz input's run written as a scenario, and its replay in-process (src/driver/fuzz/fuzz_record.c).
sd_add_unit_test(fuzz_record SOURCES ${SD_DRIVER_SOURCES} LIBS sockdrill_inproc)
target_include_directories(test_fuzz_record PRIVATE src/driver/fuzz src/driver/fuzz/include src/interpose)
target_link_libraries(test_fuzz_record PRIVATE ${CMAKE_DL_LIBS})
# The structure-keeping mutators, with the driver they learn from and the AFL++ entry points.
sd_add_unit_test(fuzz_mutate SOURCES ${SD_DRIVER_SOURCES} src/driver/fuzz/fuzz_mutate_afl.c
  LIBS sockdrill_inproc)
target_include_directories(test_fuzz_mutate PRIVATE src/driver/fuzz src/driver/fuzz/include src/interpose)
target_link_libraries(test_fuzz_mutate PRIVATE ${CMAKE_DL_LIBS})
# Every fault kind from the fuzz input: the example server's fuzz target (fuzz/example_server.c)
# and a libc server, on the sim; the seed corpora as they decoded before the slots' families.
sd_add_unit_test(fuzz_kinds SOURCES ${SD_DRIVER_SOURCES} fuzz/example_server.c fuzz/qa_oracle.c
  LIBS sockdrill_inproc sd_examples)
target_include_directories(test_fuzz_kinds PRIVATE src/driver/fuzz src/driver/fuzz/include src/interpose fuzz)
target_link_libraries(test_fuzz_kinds PRIVATE ${CMAKE_DL_LIBS})
target_compile_definitions(test_fuzz_kinds PRIVATE SD_SOURCE_DIR="${CMAKE_CURRENT_SOURCE_DIR}")
# The interposition layer's in-process route: its libc calls are the layer's.
sd_add_unit_test(inproc LIBS sockdrill_inproc)
target_include_directories(test_inproc PRIVATE src/driver/fuzz src/driver/fuzz/include src/interpose)
target_link_libraries(test_inproc PRIVATE ${CMAKE_DL_LIBS})
# Fortified like a distribution's build: read() into arrays is __read_chk, FD_SET checks bounds.
target_compile_options(test_inproc PRIVATE -U_FORTIFY_SOURCE -D_FORTIFY_SOURCE=2)
# Servers with threads, clocks and exit() on the sim, through the layer and the fuzz driver.
sd_add_unit_test(threads SOURCES ${SD_DRIVER_SOURCES} LIBS sockdrill_inproc)
target_include_directories(test_threads PRIVATE src/driver/fuzz src/driver/fuzz/include src/interpose)
target_link_libraries(test_threads PRIVATE ${CMAKE_DL_LIBS})
# A fresh process for every input (src/interpose/fresh.c): globals in the archived server's
# sections, descriptors, signal handlers. Its own binary: those sections turn LeakSanitizer off.
sd_add_unit_test(fresh SOURCES ${SD_DRIVER_SOURCES} src/interpose/heap.c LIBS sockdrill_inproc)
target_include_directories(test_fresh PRIVATE src/driver/fuzz src/driver/fuzz/include src/interpose)
target_link_libraries(test_fresh PRIVATE ${CMAKE_DL_LIBS})
# A third backend registered by the test, run by the CLI's own `run` command (its objects
# linked in): the drivers decide by capability, so it gets the sim's outcomes.
# The CLI's progress line on a fake clock (src/cli/progress.c).
sd_add_unit_test(progress SOURCES src/cli/progress.c)
sd_add_unit_test(run_backend LIBS sockdrill_cli_obj)
target_compile_definitions(test_run_backend PRIVATE SD_SOURCE_DIR="${CMAKE_CURRENT_SOURCE_DIR}")
