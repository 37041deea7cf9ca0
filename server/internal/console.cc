#include "server/internal/console.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "base/strings.h"
#include "inspect/timeline.h"

namespace wake::server_internal {
namespace {

// The pages load only their own script and stylesheet, talk only to this server's API, show
// pictures only from blob: URLs they made (the timeline, fetched with the key), and may not be framed.
constexpr char kPagePolicy[] =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob:; connect-src 'self'; "
    "form-action 'none'; base-uri 'none'; frame-ancestors 'none'";

std::string_view ContentTypeOf(std::string_view name) {
  if (absl::EndsWith(ToAbsl(name), ".html")) return "text/html; charset=utf-8";
  if (absl::EndsWith(ToAbsl(name), ".css")) return "text/css; charset=utf-8";
  if (absl::EndsWith(ToAbsl(name), ".js")) return "text/javascript; charset=utf-8";
  if (absl::EndsWith(ToAbsl(name), ".svg")) return "image/svg+xml";
  return "application/octet-stream";
}

const ConsoleAsset* FindAsset(std::string_view name) {
  for (size_t i = 0; i < kConsoleAssetCount; ++i) {
    if (name == kConsoleAssets[i].name) return &kConsoleAssets[i];
  }
  return nullptr;
}

// A session id as the API makes them (sesn_ and base-32 digits), loosely: letters, digits, '_', '-'.
bool LooksLikeId(std::string_view s) {
  return !s.empty() && s.size() <= 64 && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  });
}

// Which file a console path shows, or "" for none.
std::string_view AssetNameFor(std::string_view path) {
  std::string_view rest = path.substr(std::string_view("/console").size());
  if (rest.empty() || rest == "/") return "index.html";
  rest.remove_prefix(1);  // the '/'
  constexpr std::string_view kSessions = "sessions/";
  if (absl::StartsWith(ToAbsl(rest), ToAbsl(kSessions))) {
    return LooksLikeId(rest.substr(kSessions.size())) ? "session.html" : "";
  }
  return rest;  // looked up by exact name: a '/' or ".." never matches one
}

bool MatchesEtag(std::string_view if_none_match, std::string_view etag) {
  if (if_none_match.empty()) return false;
  if (if_none_match == "*") return true;
  // A list of (possibly weak) validators: comparison for GET is weak, so W/"x" matches "x".
  return if_none_match.find(etag) != std::string_view::npos;
}

ApiResponse ConsoleError(int status, std::string_view message) {
  ApiResponse response = ErrorResponse(status, message);
  response.route = "/console";
  response.headers.emplace_back("content-security-policy", "default-src 'none'; frame-ancestors 'none'");
  response.headers.emplace_back("x-content-type-options", "nosniff");
  return response;
}

}  // namespace

bool IsConsolePath(std::string_view path) {
  return path == "/console" || absl::StartsWith(ToAbsl(path), "/console/");
}

ApiResponse ServeConsole(std::string_view method, std::string_view path, std::string_view if_none_match) {
  const ConsoleAsset* asset = FindAsset(AssetNameFor(path));
  if (asset == nullptr) return ConsoleError(404, absl::StrCat("no console page ", ToAbsl(path)));
  if (method != "GET") {
    ApiResponse response =
        ConsoleError(405, absl::StrCat("method ", ToAbsl(method), " is not allowed on ", ToAbsl(path), " (allowed: GET)"));
    response.headers.emplace_back("allow", "GET");
    return response;
  }
  ApiResponse response;
  response.route = "/console";
  if (MatchesEtag(if_none_match, asset->etag)) {
    response.status = 304;
  } else {
    response.body.assign(reinterpret_cast<const char*>(asset->data), asset->size);
  }
  response.headers.emplace_back("content-type", std::string(ContentTypeOf(asset->name)));
  response.headers.emplace_back("etag", asset->etag);
  response.headers.emplace_back("cache-control", "no-cache");
  response.headers.emplace_back("content-security-policy", kPagePolicy);
  response.headers.emplace_back("x-content-type-options", "nosniff");
  response.headers.emplace_back("referrer-policy", "no-referrer");
  return response;
}

ApiResponse TimelineSvgResponse(const std::string& session_id, const std::vector<Event>& events, int width) {
  ApiResponse response;
  response.body = RenderTimelineSvg(BuildTimeline(session_id, events), width);
  response.headers.emplace_back("content-type", "image/svg+xml");
  response.headers.emplace_back("cache-control", "no-store");
  // Opened directly, the picture may style itself but run nothing and load nothing.
  response.headers.emplace_back("content-security-policy", "default-src 'none'; style-src 'unsafe-inline'");
  response.headers.emplace_back("x-content-type-options", "nosniff");
  return response;
}

}  // namespace wake::server_internal
