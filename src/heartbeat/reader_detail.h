#pragma once

#include <filesystem>

#include "heartbeat_exporter/reader.h"
#include "util/bounded_file.h"

namespace heartbeat_exporter::detail {

// read_heartbeat, also telling the opened file's stamp when its content was read (the part of
// the reader that HeartbeatCache needs beyond the public API).
ReadResult read_heartbeat(const std::filesystem::path& path, FileStamp* stamp);

}  // namespace heartbeat_exporter::detail
