// Writes two heartbeats with HeartbeatWriter and reads the file back with read_heartbeat; exits
// 0 only when it holds what was written.
//   heartbeat_consumer HEARTBEAT_DIR
#include <heartbeat_exporter/reader.h>
#include <heartbeat_exporter/writer.h>
#include <unistd.h>

#include <iostream>
#include <string_view>

namespace {

int fail(std::string_view what) {
  std::cerr << "heartbeat_consumer: " << what << '\n';
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) return fail("usage: heartbeat_consumer HEARTBEAT_DIR");

  heartbeat_exporter::HeartbeatWriter writer(argv[1], "consumer");
  writer.beat();
  writer.beat("draining");

  const heartbeat_exporter::ReadResult result = heartbeat_exporter::read_heartbeat(writer.path());
  if (!result.ok()) return fail("read_heartbeat failed: " + result.failure->message);
  const heartbeat_exporter::HeartbeatData& heartbeat = *result.heartbeat;
  if (heartbeat.process_key != "consumer") return fail("process_key is not \"consumer\"");
  if (heartbeat.pid != getpid()) return fail("pid is not this process");
  if (heartbeat.status != "draining") return fail("status is not the last beat's");
  if (heartbeat.iteration != 2) return fail("iteration is not 2 after two beats");

  writer.stop();
  if (heartbeat_exporter::read_heartbeat(writer.path()).ok()) return fail("stop() left the file");
  std::cout << "heartbeat_consumer: wrote and read back " << writer.path().string() << '\n';
  return 0;
}
