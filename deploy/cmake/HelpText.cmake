# Writes a program's --help output (and its commands' --help) to one text file, so that the
# installed docs are the built binary's own and can never disagree with it.
#   cmake -DPROGRAM=<binary> -DCOMMANDS="beat;stop" -DOUTPUT=<file> -P HelpText.cmake
cmake_minimum_required(VERSION 3.25)

function(append_help text_var)
  execute_process(COMMAND "${PROGRAM}" ${ARGN} --help
                  OUTPUT_VARIABLE help ERROR_VARIABLE help RESULT_VARIABLE status)
  if(NOT status EQUAL 0)
    message(FATAL_ERROR "running ${PROGRAM} ${ARGN} --help for ${OUTPUT}: exit status ${status}")
  endif()
  set(${text_var} "${${text_var}}${help}" PARENT_SCOPE)
endfunction()

get_filename_component(name "${PROGRAM}" NAME)
set(text "")
append_help(text)
foreach(command IN LISTS COMMANDS)
  string(APPEND text "\n")
  append_help(text ${command})
endforeach()
file(WRITE "${OUTPUT}" "${text}")
