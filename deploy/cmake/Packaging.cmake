# Installation layout (`cmake --install`) and the Debian package (`cpack -G DEB` in the build
# folder). Included at the end of the top-level CMakeLists.txt, after the targets exist.
# Everything here is component Runtime, the .deb's content; WriterPackage.cmake adds Development.
include(GNUInstallDirs)

install(TARGETS heartbeatctl RUNTIME DESTINATION "${CMAKE_INSTALL_BINDIR}" COMPONENT Runtime)
if(HEARTBEAT_WRITER_ONLY)
  # The rest is the exporter's: its config, unit, docs and the .deb.
  return()
endif()

set(_deploy_dir "${PROJECT_SOURCE_DIR}/deploy")
set(_doc_dir "${CMAKE_INSTALL_DATADIR}/doc/heartbeat-exporter")

install(TARGETS heartbeat_exporter RUNTIME DESTINATION "${CMAKE_INSTALL_BINDIR}" COMPONENT Runtime)
# The Python package, where Debian's python3 finds it (with prefix /usr).
install(DIRECTORY "${PROJECT_SOURCE_DIR}/src/python/heartbeat_exporter"
        DESTINATION lib/python3/dist-packages COMPONENT Runtime
        FILES_MATCHING PATTERN "*.py" PATTERN "py.typed")

# The config lives where the binaries look by default, whatever the prefix. `cmake --install`
# never overwrites an existing one (it holds the operator's edits); in the .deb it is a conffile,
# which gives upgrades the same guarantee.
set(_install_config [[
  if(EXISTS "$ENV{DESTDIR}/etc/heartbeat_exporter/config.json")
    message(STATUS "Keeping existing: $ENV{DESTDIR}/etc/heartbeat_exporter/config.json")
  else()
    file(INSTALL "@_deploy_dir@/config.example.json" DESTINATION /etc/heartbeat_exporter
         RENAME config.json)
  endif()
]])
string(CONFIGURE "${_install_config}" _install_config @ONLY)
install(CODE "${_install_config}" COMPONENT Runtime)

# The unit names /usr/bin, the package's prefix; for any other prefix (`cmake --install` to
# /usr/local) ExecStart is rewritten at install time to where the binary really went.
set(_install_unit [[
  set(_unit_source "@_deploy_dir@/systemd/heartbeat_exporter.service")
  set(_unit_staged "@CMAKE_CURRENT_BINARY_DIR@/systemd/heartbeat_exporter.service")
  file(READ "${_unit_source}" _unit)
  string(REPLACE "ExecStart=/usr/bin/heartbeat_exporter "
                 "ExecStart=${CMAKE_INSTALL_PREFIX}/@CMAKE_INSTALL_BINDIR@/heartbeat_exporter "
                 _unit "${_unit}")
  file(WRITE "${_unit_staged}" "${_unit}")
  file(INSTALL "${_unit_staged}" DESTINATION "${CMAKE_INSTALL_PREFIX}/lib/systemd/system"
       FILE_PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
]])
string(CONFIGURE "${_install_unit}" _install_unit @ONLY)
install(CODE "${_install_unit}" COMPONENT Runtime)

# Docs: the README, the example config and each program's --help, generated from the built
# binaries so that they always match them.
set(_help_docs "")
foreach(_program IN ITEMS heartbeat_exporter heartbeatctl)
  set(_commands "")
  if(_program STREQUAL "heartbeatctl")
    set(_commands "beat;stop;check")
  endif()
  set(_help_file "${CMAKE_CURRENT_BINARY_DIR}/doc/${_program}.txt")
  add_custom_command(
    OUTPUT "${_help_file}"
    COMMAND "${CMAKE_COMMAND}" "-DPROGRAM=$<TARGET_FILE:${_program}>" "-DCOMMANDS=${_commands}"
            "-DOUTPUT=${_help_file}" -P "${_deploy_dir}/cmake/HelpText.cmake"
    DEPENDS ${_program} "${_deploy_dir}/cmake/HelpText.cmake"
    COMMENT "Writing ${_program} --help to doc/${_program}.txt"
    VERBATIM)
  list(APPEND _help_docs "${_help_file}")
endforeach()
add_custom_target(help_docs ALL DEPENDS ${_help_docs})
install(FILES ${_help_docs} "${PROJECT_SOURCE_DIR}/README.md" DESTINATION "${_doc_dir}"
        COMPONENT Runtime)
# The README links to deploy/README.md for production details; the same relative link works here.
install(FILES "${_deploy_dir}/README.md" DESTINATION "${_doc_dir}/deploy" COMPONENT Runtime)
install(FILES "${_deploy_dir}/config.example.json" DESTINATION "${_doc_dir}/examples"
        COMPONENT Runtime)

# Debian package.
set(_debian_dir "${CMAKE_CURRENT_BINARY_DIR}/debian")
file(WRITE "${_debian_dir}/conffiles" "/etc/heartbeat_exporter/config.json\n")
# Debian policy: a postinst that calls adduser depends on adduser; the rest comes from
# dpkg-shlibdeps, so the libraries are whatever the binaries really link.
file(WRITE "${_debian_dir}/postinst" [[#!/bin/sh
set -e
if [ "$1" = configure ]; then
  if ! getent passwd heartbeat_exporter >/dev/null; then
    adduser --system --group --no-create-home --home /nonexistent heartbeat_exporter
  fi
  if [ -d /run/systemd/system ]; then
    systemctl daemon-reload || true
  fi
fi
]])
file(WRITE "${_debian_dir}/prerm" [[#!/bin/sh
set -e
if [ "$1" = remove ] && [ -d /run/systemd/system ]; then
  systemctl stop heartbeat_exporter.service || true
fi
]])
file(WRITE "${_debian_dir}/postrm" [[#!/bin/sh
set -e
if [ "$1" = remove ] && [ -d /run/systemd/system ]; then
  systemctl daemon-reload || true
fi
]])

set(CPACK_GENERATOR DEB)
# A runtime package: only component Runtime goes in, so the headers, library and CMake package
# for writers (component Development) stay out of it.
set(CPACK_INSTALL_CMAKE_PROJECTS "${PROJECT_BINARY_DIR};${PROJECT_NAME};Runtime;/")
set(CPACK_SOURCE_GENERATOR "")
set(CPACK_PACKAGE_NAME heartbeat-exporter)
set(CPACK_PACKAGE_VERSION "${PROJECT_VERSION}")
set(CPACK_PACKAGE_CONTACT "heartbeat_exporter maintainers <maintainers@heartbeat-exporter.invalid>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "Prometheus exporter for process heartbeats")
set(CPACK_PACKAGE_DESCRIPTION
    "Monitored processes rewrite a small JSON heartbeat file. On every scrape the
exporter reads each heartbeat, decides whether the process is healthy, timed
out, dead (stale pid), without heartbeat or reporting an error, and serves that
state, the heartbeat's age and the iteration counter on /metrics. Includes
heartbeatctl, which writes heartbeats from shell scripts and cron jobs, and a
hardened systemd unit.")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES TRUE)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_DEPENDS adduser)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    "${_debian_dir}/conffiles;${_debian_dir}/postinst;${_debian_dir}/prerm;${_debian_dir}/postrm")
# Gives the maintainer scripts mode 0755 and conffiles 0644 whatever the build folder's umask.
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION TRUE)
include(CPack)
