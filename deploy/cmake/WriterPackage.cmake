# The development files for programs that write heartbeats (`cmake --install`, component
# Development): the public headers, libheartbeat_writer.a and a CMake package, so that
#   find_package(heartbeat_exporter REQUIRED)
#   target_link_libraries(my_server PRIVATE heartbeat_exporter::writer)
# works against the install prefix. The .deb is the exporter's runtime package and leaves them
# out (Packaging.cmake). tests/packaging/consumer_test.sh builds a program this way.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(_package_dir "${CMAKE_INSTALL_LIBDIR}/cmake/heartbeat_exporter")

# include/heartbeat_exporter/ holds the public headers and nothing else.
install(DIRECTORY "${PROJECT_SOURCE_DIR}/include/heartbeat_exporter"
        DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}" COMPONENT Development)
install(TARGETS heartbeat_writer EXPORT heartbeat_exporterTargets
        ARCHIVE DESTINATION "${CMAKE_INSTALL_LIBDIR}" COMPONENT Development
        INCLUDES DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}")
install(EXPORT heartbeat_exporterTargets NAMESPACE heartbeat_exporter::
        DESTINATION "${_package_dir}" COMPONENT Development)

configure_package_config_file("${CMAKE_CURRENT_LIST_DIR}/heartbeat_exporterConfig.cmake.in"
  "${CMAKE_CURRENT_BINARY_DIR}/heartbeat_exporterConfig.cmake"
  INSTALL_DESTINATION "${_package_dir}")
# 0.x: a minor version may change the API.
write_basic_package_version_file("${CMAKE_CURRENT_BINARY_DIR}/heartbeat_exporterConfigVersion.cmake"
  COMPATIBILITY SameMinorVersion)
install(FILES "${CMAKE_CURRENT_BINARY_DIR}/heartbeat_exporterConfig.cmake"
              "${CMAKE_CURRENT_BINARY_DIR}/heartbeat_exporterConfigVersion.cmake"
        DESTINATION "${_package_dir}" COMPONENT Development)
