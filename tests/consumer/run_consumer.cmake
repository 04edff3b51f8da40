# Driver of the consumer tests (cmake -P; tests/consumer/consumer_tests.cmake registers them).
#   MODE=install       cmake --install BUILD --prefix PREFIX (a fresh prefix)
#   MODE=abi           the installed libpthsafe.so has SONAME libpthsafe.so.SOVERSION and exports
#                      nothing of namespace pthsafe but the public API
#   MODE=subproject    builds tests/consumer/subproject (pthsafe through add_subdirectory or
#                      FetchContent, VIA) in WORK with BUILD_SHARED_LIBS=SHARED, runs it, then
#                      installs it into PREFIX (the other library variant for the tests below)
#   MODE=find_package  builds tests/consumer/find_package against PREFIX and runs it
#   MODE=pkg_config    compiles consumer.cpp with `pkg-config --cflags --libs pthsafe` alone
# Common: SOURCE_DIR (pthsafe checkout), WORK, PREFIX, LIBDIR, CXX, GENERATOR, LAUNCHER, SHARED,
# FLAGS (extra compile+link flags: the sanitizers when the library has them), FIXTURE, KEY,
# EXPECTED (the tensor line consumer.cpp must print), VERSION.
cmake_minimum_required(VERSION 3.20)

function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    string(REPLACE ";" " " cmd "${ARGN}")
    message(FATAL_ERROR "failed (${rc}): ${cmd}\n${out}\n${err}")
  endif()
  set(run_output "${out}" PARENT_SCOPE)
endfunction()

# Runs the consumer and compares its whole output; checks whether it needs libpthsafe.so.
function(check_consumer exe)
  run(${exe} ${FIXTURE} ${KEY})
  set(printed "${run_output}")
  set(expected "pthsafe ${VERSION}\n${EXPECTED}\n")
  if(NOT printed STREQUAL expected)
    message(FATAL_ERROR "consumer printed:\n${printed}\nexpected:\n${expected}")
  endif()
  if(READELF)
    run(${READELF} -d ${exe})
    string(FIND "${run_output}" "libpthsafe.so" needs_so)
    if(SHARED AND needs_so EQUAL -1)
      message(FATAL_ERROR "${exe} should need libpthsafe.so:\n${run_output}")
    elseif(NOT SHARED AND NOT needs_so EQUAL -1)
      message(FATAL_ERROR "${exe} should be linked statically:\n${run_output}")
    endif()
  endif()
  message(STATUS "${exe} printed the expected:\n${printed}")
endfunction()

set(common_args -G "${GENERATOR}" -DCMAKE_CXX_COMPILER=${CXX} "-DCMAKE_CXX_FLAGS=${FLAGS}")
if(LAUNCHER)
  list(APPEND common_args -DCMAKE_CXX_COMPILER_LAUNCHER=${LAUNCHER})
endif()

if(MODE STREQUAL "install")
  file(REMOVE_RECURSE ${PREFIX})
  run(${CMAKE_COMMAND} --install ${BUILD} --prefix ${PREFIX})

elseif(MODE STREQUAL "abi")
  set(lib ${PREFIX}/${LIBDIR}/libpthsafe.so)
  run(${READELF} -d ${lib})
  if(NOT run_output MATCHES "Library soname: \\[libpthsafe\\.so\\.${SOVERSION}\\]")
    message(FATAL_ERROR "${lib}: no SONAME libpthsafe.so.${SOVERSION}:\n${run_output}")
  endif()
  run(${NM} -D -C --defined-only ${lib})
  string(REPLACE "\n" ";" symbols "${run_output}")
  # The API is what include/pthsafe marks PTHSAFE_API: classes and free functions.
  file(GLOB headers ${SOURCE_DIR}/include/pthsafe/*.hpp)
  set(classes "")
  set(functions "")
  foreach(header ${headers})
    file(STRINGS ${header} marked REGEX "PTHSAFE_API")
    foreach(line ${marked})
      if(line MATCHES "^(class|struct) PTHSAFE_API ([a-z0-9_]+)")
        list(APPEND classes ${CMAKE_MATCH_2})
      elseif(line MATCHES "^PTHSAFE_API [^(]*[ *&]([a-z0-9_]+)\\(")
        list(APPEND functions ${CMAKE_MATCH_1})
      endif()
    endforeach()
  endforeach()
  list(JOIN classes "|" class_alt)
  set(exported "")
  foreach(line ${symbols})
    # pthsafe/cuda.hpp's public namespace: its names are checked as pthsafe's own.
    string(REPLACE "pthsafe::cuda::" "pthsafe::" line "${line}")
    # "<address> <type> <name>": only pthsafe's own names. std:: instantiations over public
    # types are exported by the compiler and belong to no API; demangled, some start with their
    # return type ("pthsafe::value** std::__fill_n_a<...>"), which the "::", "(" or "[" after
    # the first name tells apart.
    if(NOT line MATCHES "^[0-9a-f]+ [A-Za-z] pthsafe::([a-z0-9_]+)(::|\\(|\\[)")
      continue()
    endif()
    set(name "${CMAKE_MATCH_1}")
    set(scope "")
    if(CMAKE_MATCH_2 STREQUAL "::")
      set(scope "::")
    endif()
    if(scope AND NOT name MATCHES "^(${class_alt})$")
      message(FATAL_ERROR "${lib} exports an internal symbol: ${line}")
    elseif(NOT scope AND NOT name IN_LIST functions)
      message(FATAL_ERROR "${lib} exports a function the headers do not mark PTHSAFE_API: ${line}")
    endif()
    list(APPEND exported ${name})
  endforeach()
  # Every mark took effect (a definition that does not see its PTHSAFE_API declaration is hidden).
  foreach(name ${classes} ${functions})
    if(NOT name IN_LIST exported)
      message(FATAL_ERROR "${lib} does not export pthsafe::${name}, which include/pthsafe marks PTHSAFE_API")
    endif()
  endforeach()
  list(LENGTH classes n_classes)
  list(LENGTH functions n_functions)
  message(STATUS "${lib}: SONAME libpthsafe.so.${SOVERSION}; exports the ${n_classes} classes and "
                 "${n_functions} functions marked PTHSAFE_API and nothing else of namespace pthsafe")

elseif(MODE STREQUAL "subproject")
  run(${CMAKE_COMMAND} -S ${SOURCE_DIR}/tests/consumer/subproject -B ${WORK} ${common_args}
      -DPTHSAFE_SOURCE_DIR=${SOURCE_DIR} -DPTHSAFE_VIA=${VIA} -DBUILD_SHARED_LIBS=${SHARED}
      -DPTHSAFE_INSTALL=ON -DPTHSAFE_SANITIZE=${SANITIZE} -DCMAKE_INSTALL_LIBDIR=${LIBDIR})
  run(${CMAKE_COMMAND} --build ${WORK} -j2)
  check_consumer(${WORK}/consumer)
  file(REMOVE_RECURSE ${PREFIX})
  run(${CMAKE_COMMAND} --install ${WORK} --prefix ${PREFIX})

elseif(MODE STREQUAL "find_package")
  run(${CMAKE_COMMAND} -S ${SOURCE_DIR}/tests/consumer/find_package -B ${WORK} ${common_args}
      -DCMAKE_PREFIX_PATH=${PREFIX} -DPTHSAFE_EXPECT_XTENSOR=${XTENSOR})
  run(${CMAKE_COMMAND} --build ${WORK})
  check_consumer(${WORK}/consumer)

elseif(MODE STREQUAL "pkg_config")
  set(ENV{PKG_CONFIG_PATH} ${PREFIX}/${LIBDIR}/pkgconfig)
  run(${PKG_CONFIG} --cflags --libs pthsafe)
  separate_arguments(pc_flags UNIX_COMMAND "${run_output}")
  separate_arguments(extra UNIX_COMMAND "${FLAGS}")
  if(SHARED)
    run(${PKG_CONFIG} --variable=libdir pthsafe)
    string(STRIP "${run_output}" libdir)
    list(APPEND extra -Wl,-rpath,${libdir})
  endif()
  file(MAKE_DIRECTORY ${WORK})
  run(${CXX} -std=c++20 ${extra} ${SOURCE_DIR}/tests/consumer/consumer.cpp -o ${WORK}/consumer ${pc_flags})
  check_consumer(${WORK}/consumer)

else()
  message(FATAL_ERROR "unknown MODE '${MODE}'")
endif()
