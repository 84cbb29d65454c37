# Run by `cmake --install`: installs the Python package and its pytest11 entry point where the
# python3 of the machine that installs looks. The place is worked out now, not when the tree
# was configured: a tree configured before python3 existed (the README's order on a fresh
# machine) must still install where python3 finds it. -DSOCKDRILL_PYTHON_DIR=DIR (relative to
# the prefix) chooses the place instead.
# Inputs, set by the install(CODE) before this script: SD_SRC, SD_BIN, SD_BINDIR, SD_VERSION,
# SD_PYTHON_DIR (empty: find out), SD_PYTHON (the interpreter to ask).
set(_dir "${SD_PYTHON_DIR}")
if(_dir STREQUAL "")
  set(_dir lib/python3/dist-packages)
  execute_process(COMMAND "${SD_PYTHON}" -c "import sys; print('%d.%d' % sys.version_info[:2])"
    OUTPUT_VARIABLE _ver OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE _rc ERROR_QUIET)
  if(_rc EQUAL 0 AND _ver MATCHES "^3\\.[0-9]+$")
    set(_dir lib/python${_ver}/dist-packages)
  else()
    message(WARNING "sockdrill: ${SD_PYTHON} did not run; the Python package goes to "
      "${_dir} (pass -DSOCKDRILL_PYTHON_DIR=... to choose)")
  endif()
endif()
set(_pkg "${CMAKE_INSTALL_PREFIX}/${_dir}/sockdrill")
file(RELATIVE_PATH SD_PY_TO_BIN "/p/${_dir}/sockdrill" "/p/${SD_BINDIR}")
set(_gen "${SD_BIN}/python-install")
configure_file("${SD_SRC}/cmake/python_install.py.in" "${_gen}/_install.py" @ONLY)
set(PROJECT_VERSION "${SD_VERSION}")
configure_file("${SD_SRC}/cmake/python_METADATA.in" "${_gen}/METADATA" @ONLY)
configure_file("${SD_SRC}/cmake/python_entry_points.txt" "${_gen}/entry_points.txt" COPYONLY)
file(INSTALL "${SD_SRC}/python/sockdrill/__init__.py" "${SD_SRC}/python/sockdrill/core.py"
  "${SD_SRC}/python/sockdrill/pytest_plugin.py" "${_gen}/_install.py" DESTINATION "${_pkg}")
file(INSTALL "${_gen}/METADATA" "${_gen}/entry_points.txt"
  DESTINATION "${CMAKE_INSTALL_PREFIX}/${_dir}/sockdrill-${SD_VERSION}.dist-info")
