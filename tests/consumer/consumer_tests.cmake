# Consumer tests (included by tests/CMakeLists.txt): pthsafe as downstream projects use it, for
# both library variants.
#  - This build's variant (static or shared per BUILD_SHARED_LIBS) is installed into a prefix.
#  - The other variant is built by a consumer that embeds pthsafe with add_subdirectory (the
#    add_subdirectory test), and that build is installed into a second prefix. This is the one
#    test that compiles the library again; its build tree persists, so reruns are incremental.
#  - Against each prefix: a find_package(pthsafe) project and a pkg-config-only compile, each
#    printing a tensor of a torch-made fixture; shared prefixes also get the SONAME/export check.
find_program(PTHSAFE_PKG_CONFIG NAMES pkgconf pkg-config)

get_target_property(library_type pthsafe TYPE)
if(library_type STREQUAL "SHARED_LIBRARY")
  set(this_variant shared)
  set(other_variant static)
else()
  set(this_variant static)
  set(other_variant shared)
endif()

set(consumer_work ${CMAKE_CURRENT_BINARY_DIR}/consumer)
set(consumer_flags "")
if(PTHSAFE_SANITIZE)
  # An instrumented library needs the sanitizer runtimes in every program that links it.
  string(REPLACE ";" " " consumer_flags "${PTHSAFE_SANITIZER_FLAGS}")
endif()
set(consumer_args
  -DSOURCE_DIR=${PROJECT_SOURCE_DIR} -DLIBDIR=${CMAKE_INSTALL_LIBDIR} -DCXX=${CMAKE_CXX_COMPILER}
  "-DGENERATOR=${CMAKE_GENERATOR}" -DLAUNCHER=${CMAKE_CXX_COMPILER_LAUNCHER} "-DFLAGS=${consumer_flags}"
  -DSANITIZE=${PTHSAFE_SANITIZE} -DVERSION=${PROJECT_VERSION} -DSOVERSION=${PTHSAFE_SOVERSION}
  -DREADELF=${CMAKE_READELF} -DNM=${CMAKE_NM} -DPKG_CONFIG=${PTHSAFE_PKG_CONFIG}
  -DXTENSOR=${xtensor_FOUND}
  -DFIXTURE=${CMAKE_CURRENT_SOURCE_DIR}/fixtures/state_dict.pth -DKEY=0.bias
  # torch.load of the fixture: 0.bias = [0.23477113, 0.18893620, -0.011036433]
  "-DEXPECTED=0.bias float32 [3] 0.234771 0.188936 -0.0110364")
set(driver ${CMAKE_CURRENT_SOURCE_DIR}/consumer/run_consumer.cmake)

add_test(NAME consumer_install_${this_variant}
         COMMAND ${CMAKE_COMMAND} ${consumer_args} -DMODE=install -DBUILD=${PROJECT_BINARY_DIR}
                 -DPREFIX=${consumer_work}/prefix-${this_variant} -P ${driver})
set_tests_properties(consumer_install_${this_variant} PROPERTIES FIXTURES_SETUP consumer_prefix_${this_variant})

if(other_variant STREQUAL "shared")
  set(other_shared ON)
else()
  set(other_shared OFF)
endif()
add_test(NAME consumer_add_subdirectory_${other_variant}
         COMMAND ${CMAKE_COMMAND} ${consumer_args} -DMODE=subproject -DVIA=add_subdirectory
                 -DSHARED=${other_shared} -DWORK=${consumer_work}/add_subdirectory-${other_variant}
                 -DPREFIX=${consumer_work}/prefix-${other_variant} -P ${driver})
set_tests_properties(consumer_add_subdirectory_${other_variant} PROPERTIES
  FIXTURES_SETUP consumer_prefix_${other_variant} TIMEOUT 1800 PROCESSORS 2)

foreach(variant static shared)
  if(variant STREQUAL "shared")
    set(shared ON)
  else()
    set(shared OFF)
  endif()
  set(prefix ${consumer_work}/prefix-${variant})
  add_test(NAME consumer_find_package_${variant}
           COMMAND ${CMAKE_COMMAND} ${consumer_args} -DMODE=find_package -DSHARED=${shared}
                   -DWORK=${consumer_work}/find_package-${variant} -DPREFIX=${prefix} -P ${driver})
  set(variant_tests consumer_find_package_${variant})
  if(PTHSAFE_PKG_CONFIG)
    add_test(NAME consumer_pkg_config_${variant}
             COMMAND ${CMAKE_COMMAND} ${consumer_args} -DMODE=pkg_config -DSHARED=${shared}
                     -DWORK=${consumer_work}/pkg_config-${variant} -DPREFIX=${prefix} -P ${driver})
    list(APPEND variant_tests consumer_pkg_config_${variant})
  endif()
  if(shared AND CMAKE_READELF AND CMAKE_NM)
    add_test(NAME consumer_abi_shared
             COMMAND ${CMAKE_COMMAND} ${consumer_args} -DMODE=abi -DPREFIX=${prefix} -P ${driver})
    list(APPEND variant_tests consumer_abi_shared)
  endif()
  set_tests_properties(${variant_tests} PROPERTIES FIXTURES_REQUIRED consumer_prefix_${variant})
endforeach()
