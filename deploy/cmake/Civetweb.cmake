# civetweb, compiled into the exporter from Debian 12's own source package (Debian's patches
# applied), which deploy/scripts/fetch-civetweb-source.sh unpacks. Debian's libcivetweb1 is built
# without IPv6 and loads OpenSSL 1.1 at run time, which crashes on OpenSSL 3; this build has IPv6
# on and links OpenSSL 3 at build time. Defines the target civetweb_static (C API and CivetServer).
set(HEARTBEAT_CIVETWEB_SOURCE_DIR "/var/cache/heartbeat_exporter/civetweb-src"
    CACHE PATH "civetweb source, unpacked by deploy/scripts/fetch-civetweb-source.sh")
if(NOT EXISTS "${HEARTBEAT_CIVETWEB_SOURCE_DIR}/.heartbeat-exporter-source")
  message(FATAL_ERROR "civetweb source missing in ${HEARTBEAT_CIVETWEB_SOURCE_DIR}: "
                      "run deploy/scripts/install-build-deps.sh (or fetch-civetweb-source.sh)")
endif()

enable_language(C)
find_package(OpenSSL 3 REQUIRED)

add_library(civetweb_static STATIC "${HEARTBEAT_CIVETWEB_SOURCE_DIR}/src/civetweb.c"
                                   "${HEARTBEAT_CIVETWEB_SOURCE_DIR}/src/CivetServer.cpp")
# SYSTEM: the exporter's -Werror must not judge civetweb's headers.
target_include_directories(civetweb_static SYSTEM BEFORE
                           PUBLIC "${HEARTBEAT_CIVETWEB_SOURCE_DIR}/include")
# NO_SSL_DL with OPENSSL_API_3_0: call OpenSSL 3 directly instead of dlopen()ing libssl.
# NO_CGI and NO_FILES: the exporter answers every request itself and serves no files.
# USE_STACK_SIZE: each connection has a worker thread of its own (--web.max-connections of
# them), so their stacks are 256 KiB instead of glibc's 8 MiB: 1,024 workers reserve 256 MiB of
# address space, not 8 GiB. The deepest request path touches 32 KiB (tests/README.md).
# ALTERNATIVE_QUEUE: a new connection goes to the idle worker with the lowest index, not to
# whichever a condition variable wakes (in turn, all of them over time), so that only as many
# workers touch their stack and request buffer as ever served at once; it costs an eventfd per
# worker.
target_compile_definitions(civetweb_static
                           PRIVATE USE_IPV6 NO_SSL_DL OPENSSL_API_3_0 NO_CGI NO_FILES NDEBUG
                                   USE_STACK_SIZE=262144 ALTERNATIVE_QUEUE)
# Third-party code: its warnings are not ours to fix, and the sanitizer builds leave it
# uninstrumented, as Debian's shared library was.
target_compile_options(civetweb_static PRIVATE -w -fno-sanitize=all)
set_target_properties(civetweb_static PROPERTIES POSITION_INDEPENDENT_CODE ON)
target_link_libraries(civetweb_static PUBLIC OpenSSL::SSL OpenSSL::Crypto Threads::Threads
                                             ${CMAKE_DL_LIBS})
# The project's documented build sets only the C++ launcher (ccache); civetweb.c is C.
if(CMAKE_CXX_COMPILER_LAUNCHER AND NOT CMAKE_C_COMPILER_LAUNCHER)
  set_target_properties(civetweb_static PROPERTIES C_COMPILER_LAUNCHER
                                                   "${CMAKE_CXX_COMPILER_LAUNCHER}")
endif()
