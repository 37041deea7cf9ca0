#pragma once
// The operator console: read-only web pages served by waked under /console. The pages (an HTML page
// per view, one stylesheet, one JavaScript module, all in server/console/) are compiled into the binary
// at build time (server/console/embed.cmake turns them into byte arrays), so waked needs no files beside it
// and nothing is fetched from the internet.
//
// The pages themselves are public and hold no data: the script asks the operator for an API key,
// keeps it in the tab's sessionStorage and reads everything through the authenticated /v1 API. So
// the console's routes are answered before any key check, and only with these static bytes.
//
// Thread-safe (the asset table is immutable).

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "schemas/event.h"
#include "server/internal/api.h"

namespace wake::server_internal {

// One embedded file. Constant-initialized by the generated console_assets.cc.
struct ConsoleAsset {
  const char* name;           // the file name in server/console/, e.g. "console.js"
  const unsigned char* data;  // its bytes
  size_t size;
  const char* etag;           // a quoted strong validator: the first 16 hex digits of its SHA-256
};
extern const ConsoleAsset kConsoleAssets[];
extern const size_t kConsoleAssetCount;

// Whether `path` (percent-decoded, without the query) is the console's: "/console" or under "/console/".
bool IsConsolePath(std::string_view path);

// The response for a console path: "/console" and "/console/" are the sessions list (index.html),
// "/console/sessions/{id}" the session page (session.html), "/console/{file}" an embedded file by
// exact name (so no path can reach anything but the table). 404 for anything else, 405 for a
// method but GET, 304 when `if_none_match` names the file's ETag. Every answer carries the content
// type, the ETag, Cache-Control (revalidate each time: file names carry no version) and a
// Content-Security-Policy that allows only the console's own script, style and API.
// REQUIRES: IsConsolePath(path).
ApiResponse ServeConsole(std::string_view method, std::string_view path, std::string_view if_none_match);

// GET /v1/sessions/{id}/timeline.svg: the session's timeline picture (inspect/timeline.h) of its
// events, `width` pixels wide, as an image/svg+xml response that runs nothing when opened directly.
ApiResponse TimelineSvgResponse(const std::string& session_id, const std::vector<Event>& events, int width);

}  // namespace wake::server_internal
