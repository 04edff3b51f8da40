# FindLibZip: locates libzip and defines the imported target LibZip::LibZip.
#
# Used both by pthsafe's own build and, installed next to pthsafeConfig.cmake, by consumers of a
# static libpthsafe.a (which must link libzip themselves). libzip's own CMake package
# (libzip::zip) is not used: older distributions do not ship it, and the one that newer ones ship
# does not declare its dependencies for a static libzip ("doesn't work as-is", says its config).
# pkg-config's libzip.pc is the portable source; find_path/find_library are the fallback.
find_package(PkgConfig QUIET)
if(PkgConfig_FOUND)
  pkg_check_modules(PC_LIBZIP QUIET libzip)
endif()
find_path(LibZip_INCLUDE_DIR zip.h HINTS ${PC_LIBZIP_INCLUDE_DIRS})
find_library(LibZip_LIBRARY NAMES zip HINTS ${PC_LIBZIP_LIBRARY_DIRS})
include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(LibZip REQUIRED_VARS LibZip_LIBRARY LibZip_INCLUDE_DIR
                                  VERSION_VAR PC_LIBZIP_VERSION)
if(LibZip_FOUND AND NOT TARGET LibZip::LibZip)
  add_library(LibZip::LibZip UNKNOWN IMPORTED)
  set_target_properties(LibZip::LibZip PROPERTIES
    IMPORTED_LOCATION "${LibZip_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${LibZip_INCLUDE_DIR}")
endif()
mark_as_advanced(LibZip_INCLUDE_DIR LibZip_LIBRARY)
