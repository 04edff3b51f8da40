# Runs load_strict on a mismatching pair: exit status exactly 1 and exactly torch's key lists.
execute_process(COMMAND ${CMD} ${CKPT} ${REF} RESULT_VARIABLE rc OUTPUT_VARIABLE out)
set(want "Error(s) in loading state_dict:
  Missing key(s) in state_dict: \"classifier.weight\", \"classifier.bias\".
  Unexpected key(s) in state_dict: \"fc.weight\", \"fc.bias\".
")
if(NOT rc EQUAL 1 OR NOT out STREQUAL want)
  message(FATAL_ERROR "load_strict: exit ${rc}, output:\n${out}\nwanted exit 1 and:\n${want}")
endif()
