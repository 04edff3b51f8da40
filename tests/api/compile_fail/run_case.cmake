# Builds one compile-fail target (tests/api/compile_fail/CMakeLists.txt). EXPECT=compiles: the
# build must succeed. EXPECT=fails: it must fail, and on a deleted function (gcc: "use of deleted
# function", clang: "deleted"), so that a typo or a missing header cannot pass for the check.
execute_process(COMMAND ${CMAKE_COMMAND} --build ${BUILD_DIR} --target ${TARGET}
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(EXPECT STREQUAL "compiles")
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${TARGET} must compile:\n${out}${err}")
  endif()
else()
  if(rc EQUAL 0)
    message(FATAL_ERROR "${TARGET} compiled; the dangling use must not")
  endif()
  if(NOT "${out}${err}" MATCHES "deleted")
    message(FATAL_ERROR "${TARGET} failed, but not on a deleted function:\n${out}${err}")
  endif()
  message(STATUS "${TARGET} fails as it must")
endif()
