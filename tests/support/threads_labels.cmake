# Build step of each unit test executable (tests/CMakeLists.txt): its test cases tagged [threads]
# get the ctest label `threads` too, which the ThreadSanitizer build runs. Writes OUTPUT, a list of
# set_tests_properties calls that ctest reads after the tests catch_discover_tests registered.
#   cmake -D EXECUTABLE=<test binary> -D PREFIX=<ctest name prefix> -D LABELS=<its labels>
#         -D THREADS=<ON if heartbeat_test() says THREADS> -D OUTPUT=<file> -P threads_labels.cmake
# Fails when THREADS and the tags disagree: the ThreadSanitizer build builds only the executables
# that say THREADS, so a [threads] test case elsewhere would silently never run under it.
cmake_minimum_required(VERSION 3.25)

execute_process(COMMAND "${EXECUTABLE}" "[threads]" --list-test-names-only
                OUTPUT_VARIABLE names RESULT_VARIABLE count)
# Catch2 v2 exits with the number of test cases it listed.
if(NOT count MATCHES "^[0-9]+$")
  message(FATAL_ERROR "listing the [threads] test cases of ${EXECUTABLE} failed: ${count}")
endif()
get_filename_component(target "${EXECUTABLE}" NAME)
if(THREADS AND count EQUAL 0)
  message(FATAL_ERROR "${target} says THREADS in tests/CMakeLists.txt but has no test case "
                      "tagged [threads]: drop the keyword")
elseif(NOT THREADS AND count GREATER 0)
  message(FATAL_ERROR "${target} has test cases tagged [threads]: add THREADS to its "
                      "heartbeat_test() in tests/CMakeLists.txt, so that ThreadSanitizer runs them")
endif()

# The names are those CatchAddTests.cmake gives: PREFIX then the name as Catch2 lists it.
string(REPLACE "\n" ";" names "${names}")
set(script "")
foreach(name IN LISTS names)
  if(NOT name STREQUAL "")
    string(APPEND script "set_tests_properties([==[${PREFIX}${name}]==] "
                         "PROPERTIES LABELS [==[${LABELS};threads]==])\n")
  endif()
endforeach()
file(WRITE "${OUTPUT}" "${script}")
