#pragma once
// The little of the tar format the Docker archive endpoints need: PUT /containers/{id}/archive takes
// a tar stream to extract, GET returns one. wake writes a one-file archive and reads the first entry
// of the daemon's (Go's archive/tar: ustar headers, PAX records for long names and large sizes, GNU
// long names from other writers).
//
// Pure functions, no I/O; thread-safe.

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace wake::docker_internal {

// An archive holding one regular file `name` (a relative path, e.g. a base name) with `content`,
// permission bits `mode` and modification time `mtime_seconds`, owned by uid/gid 0. Names longer
// than the ustar field get a PAX header.
std::string TarOneFile(std::string_view name, std::string_view content, uint32_t mode, int64_t mtime_seconds);

struct TarEntry {
  char type = 0;  // the typeflag: '0' regular file, '5' directory, '2' symlink, ...
  std::string name;
  std::string link_target;  // symlinks and hard links
  uint32_t mode = 0;
  std::string content;  // regular files
};

// The first entry of `archive` that is not a PAX or GNU metadata header. DataLoss when the archive
// is malformed or truncated (checksum, sizes), NotFound when it holds no entry.
absl::StatusOr<TarEntry> FirstTarEntry(std::string_view archive);

}  // namespace wake::docker_internal
