// Built into every fuzz target, so that a target run by hand behaves as under run.sh:
// UBSAN_OPTIONS from the environment still override these.

extern "C" const char* __ubsan_default_options() {
  return "halt_on_error=1:print_stacktrace=1:suppressions=" HEARTBEAT_UBSAN_SUPPRESSIONS;
}
