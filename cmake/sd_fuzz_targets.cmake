# The fuzz targets' one list, fuzz/targets.txt: read into SD_FUZZ_TARGETS (every name) and
# SD_FUZZ_LIBRARY_TARGETS (KIND library), and written as a header for the CLI
# (sd_fuzz_targets.h in SD_GENERATED_DIR). An edited list reconfigures.
set(SD_GENERATED_DIR ${CMAKE_CURRENT_BINARY_DIR}/generated)
set(_sd_list ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/targets.txt)
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${_sd_list})
file(STRINGS ${_sd_list} _sd_lines REGEX "^[^#]")
set(SD_FUZZ_TARGETS "")
set(SD_FUZZ_LIBRARY_TARGETS "")
set(SD_FUZZ_TARGET_ROWS "")
foreach(_sd_line IN LISTS _sd_lines)
  string(REGEX MATCHALL "[^ \t]+" _sd_f "${_sd_line}")
  list(LENGTH _sd_f _sd_n)
  if(_sd_n EQUAL 0)
    continue()
  endif()
  if(NOT _sd_n EQUAL 4)
    message(FATAL_ERROR "fuzz/targets.txt: '${_sd_line}': want NAME KIND MAX_LEN EXPECT")
  endif()
  list(GET _sd_f 0 _sd_name)
  list(GET _sd_f 1 _sd_kind)
  list(GET _sd_f 2 _sd_max)
  list(GET _sd_f 3 _sd_expect)
  if(NOT _sd_name MATCHES "^[a-z0-9_]+$" OR NOT _sd_kind MATCHES "^(library|server)$" OR
     NOT _sd_max MATCHES "^([0-9]+|-)$" OR NOT _sd_expect MATCHES "^(clean|crash)$")
    message(FATAL_ERROR "fuzz/targets.txt: '${_sd_line}': want NAME, library or server, a "
      "length or -, clean or crash")
  endif()
  list(APPEND SD_FUZZ_TARGETS ${_sd_name})
  if(_sd_kind STREQUAL "library")
    list(APPEND SD_FUZZ_LIBRARY_TARGETS ${_sd_name})
  endif()
  string(APPEND SD_FUZZ_TARGET_ROWS
    "\t{\"${_sd_name}\", \"${_sd_kind}\", \"${_sd_max}\", \"${_sd_expect}\"},\n")
endforeach()
configure_file(${CMAKE_CURRENT_LIST_DIR}/sd_fuzz_targets.h.in
  ${SD_GENERATED_DIR}/sd_fuzz_targets.h @ONLY)

# In a fuzzing build, after every fuzz target is defined: each listed target is built as
# fuzz_NAME, and no fuzz_ target of this directory is missing from the list.
function(sd__fuzz_targets_check)
  foreach(t IN LISTS SD_FUZZ_TARGETS)
    if(NOT TARGET fuzz_${t})
      message(FATAL_ERROR "fuzz/targets.txt lists ${t}, but CMakeLists.txt builds no fuzz_${t}")
    endif()
  endforeach()
  get_property(built DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR} PROPERTY BUILDSYSTEM_TARGETS)
  foreach(b IN LISTS built)
    if(b MATCHES "^fuzz_(.+)$" AND NOT CMAKE_MATCH_1 IN_LIST SD_FUZZ_TARGETS)
      message(FATAL_ERROR "CMakeLists.txt builds ${b}, which fuzz/targets.txt does not list")
    endif()
  endforeach()
endfunction()
