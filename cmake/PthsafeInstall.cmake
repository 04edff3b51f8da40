# Install rules: the library, its headers, the CLI, the CMake package (pthsafeConfig.cmake,
# version file, exported targets pthsafe::pthsafe and pthsafe::xtensor) and pthsafe.pc.
# docs/packaging.md says how a consumer uses them.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(PTHSAFE_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/pthsafe)
get_target_property(PTHSAFE_LIBRARY_TYPE pthsafe TYPE)
if(PTHSAFE_LIBRARY_TYPE STREQUAL "SHARED_LIBRARY")
  set(PTHSAFE_SHARED ON)
else()
  set(PTHSAFE_SHARED OFF)
endif()

install(TARGETS pthsafe EXPORT pthsafeTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/pthsafe DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(EXPORT pthsafeTargets NAMESPACE pthsafe:: DESTINATION ${PTHSAFE_CMAKE_DIR})
# The adaptor has its own export set: pthsafeConfig.cmake loads it only when the consumer has
# xtensor, so a consumer without xtensor still finds pthsafe::pthsafe.
if(TARGET pthsafe_xtensor)
  install(TARGETS pthsafe_xtensor EXPORT pthsafeXtensorTargets)
  install(EXPORT pthsafeXtensorTargets NAMESPACE pthsafe:: DESTINATION ${PTHSAFE_CMAKE_DIR})
endif()

configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/pthsafeConfig.cmake.in
  ${PROJECT_BINARY_DIR}/pthsafeConfig.cmake INSTALL_DESTINATION ${PTHSAFE_CMAKE_DIR})
# Pre-1.0 a minor release may break the API (semantic versioning's 0.y rule), so a request for 0.1
# accepts 0.1.z only; SameMajorVersion would let 0.2 satisfy it. Revisit at 1.0.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/pthsafeConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/pthsafeConfig.cmake ${PROJECT_BINARY_DIR}/pthsafeConfigVersion.cmake
              ${PROJECT_SOURCE_DIR}/cmake/FindLibZip.cmake
        DESTINATION ${PTHSAFE_CMAKE_DIR})

# pthsafe.pc. A static libpthsafe.a is useless without libzip, zlib and threads, so a static
# build lists them in Requires/Libs (plain `pkg-config --libs pthsafe` links); a shared build
# keeps them private (they are the .so's own NEEDED entries).
if(PTHSAFE_SHARED)
  set(PTHSAFE_PC_REQUIRES "")
  set(PTHSAFE_PC_REQUIRES_PRIVATE "libzip zlib")
  set(PTHSAFE_PC_LIBS "-lpthsafe")
  set(PTHSAFE_PC_LIBS_PRIVATE "-pthread")
else()
  set(PTHSAFE_PC_REQUIRES "libzip zlib")
  set(PTHSAFE_PC_REQUIRES_PRIVATE "")
  set(PTHSAFE_PC_LIBS "-lpthsafe -pthread")
  set(PTHSAFE_PC_LIBS_PRIVATE "")
endif()
# The static CUDA runtime has no .pc file of its own: a static build names it with its directory
# (the toolkit's, as found here) and what it needs; libpthsafe.so carries it inside.
if(PTHSAFE_WITH_CUDA)
  set(PTHSAFE_PC_CUDA "-L${CUDAToolkit_LIBRARY_DIR} -lcudart_static -ldl -lrt")
  if(PTHSAFE_SHARED)
    string(APPEND PTHSAFE_PC_LIBS_PRIVATE " ${PTHSAFE_PC_CUDA}")
  else()
    string(APPEND PTHSAFE_PC_LIBS " ${PTHSAFE_PC_CUDA}")
  endif()
endif()
foreach(dir LIBDIR INCLUDEDIR)
  if(IS_ABSOLUTE "${CMAKE_INSTALL_${dir}}")
    set(PTHSAFE_PC_${dir} "${CMAKE_INSTALL_${dir}}")
  else()
    set(PTHSAFE_PC_${dir} "\${prefix}/${CMAKE_INSTALL_${dir}}")
  endif()
endforeach()
# The prefix is the one given at install time (cmake --install --prefix), not at configure time.
configure_file(${PROJECT_SOURCE_DIR}/cmake/pthsafe.pc.in ${PROJECT_BINARY_DIR}/pthsafe.pc.in @ONLY)
install(CODE "
  file(READ \"${PROJECT_BINARY_DIR}/pthsafe.pc.in\" pc)
  string(REPLACE \"%PREFIX%\" \"\${CMAKE_INSTALL_PREFIX}\" pc \"\${pc}\")
  file(WRITE \"${PROJECT_BINARY_DIR}/pthsafe.pc\" \"\${pc}\")")
install(FILES ${PROJECT_BINARY_DIR}/pthsafe.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

install(FILES ${PROJECT_SOURCE_DIR}/LICENSE DESTINATION ${CMAKE_INSTALL_DOCDIR})
if(PTHSAFE_BUILD_CLI)
  if(PTHSAFE_SHARED)
    # The installed CLI finds libpthsafe.so relative to itself, wherever the prefix is.
    file(RELATIVE_PATH PTHSAFE_BIN_TO_LIB ${CMAKE_INSTALL_FULL_BINDIR} ${CMAKE_INSTALL_FULL_LIBDIR})
    set_target_properties(pthsafe_cli PROPERTIES INSTALL_RPATH "$ORIGIN/${PTHSAFE_BIN_TO_LIB}")
  endif()
  install(TARGETS pthsafe_cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
endif()
