#pragma once
// waked's HTTP/SSE server: the Managed Agents session API (the shapes of npm @anthropic-ai/sdk 1.10.0,
// resources/beta/{agents,environments,sessions}) served over an Engine, on Boost.Beast.
//
// Endpoints (every one also accepts `?beta=true` and an `anthropic-beta` header, and ignores them):
//   POST   /v1/agents                      create        GET /v1/agents               list
//   GET    /v1/agents/{id}[?version=N]     retrieve      POST /v1/agents/{id}         update
//   POST   /v1/agents/{id}/archive         archive       GET /v1/agents/{id}/versions list versions
//   POST   /v1/environments                create        GET /v1/environments         list
//   GET    /v1/environments/{id}           retrieve      POST /v1/environments/{id}   update
//   DELETE /v1/environments/{id}           delete        POST .../{id}/archive        archive
//   POST   /v1/sessions                    create        GET /v1/sessions             list
//   GET    /v1/sessions/{id}               retrieve      POST /v1/sessions/{id}       update
//   DELETE /v1/sessions/{id}               delete        POST .../{id}/archive        archive
//   GET    /v1/sessions/{id}/events        list (cursor pages; order, types[], created_at[..])
//   POST   /v1/sessions/{id}/events        send {"events": [...]}: all or nothing
//   GET    /v1/sessions/{id}/events/stream server-sent events
//   GET    /v1/sessions/{id}/timeline.svg  the session's timeline picture (image/svg+xml, ?width=300..4000)
//   GET    /console, /console/...          the operator console's static pages (no key: their script
//                                          reads the API with the key the operator types; console.h)
//   GET    /metrics                        the Engine's metrics (Engine::metrics()) in the Prometheus
//                                          text format 0.0.4 (content-type text/plain; version=0.0.4)
// Lists answer {"data": [...], "next_page": cursor|null} (sessions add "prev_page"); pass the cursor
// back as `?page=`. Errors are {"type":"error","error":{"type":...,"message":...}} with the usual
// statuses (400 bad input, 401 no or wrong key, 404 unknown id or route, 405 wrong method, 409 a
// version conflict, 413 a body over max_body_bytes, 429 too many streams, 5xx the engine's trouble);
// a rejected request changes nothing. Every response carries a `request-id` header.
//
// What wake maps and what it refuses (400, naming the field) is documented in
// server/internal/api_json.h: e.g. the agent toolset `agent_toolset_20260401` turns on wake's
// standard tools (bash, read, write, edit, glob, grep) with `always_allow` / `always_ask`
// policies; `custom` tools are the client's; an environment's `cloud` config is the engine's default
// hand backend and wake's own config types `local`, `docker`, `ssh` (any registered backend) choose one.
// wake's internal events (`wake.*`) are left out of event lists and streams unless asked for with
// `include_internal=true` or by naming them in `types[]`.
//
// The event stream: `event: <type>`, `id: <event id>`, `data: <event JSON>` frames; a comment line
// every keepalive_interval. It starts at the session's head when it is opened (the headers are sent
// once the subscription exists, so anything appended after the client sees them is delivered), or
// right after a given event: the `Last-Event-ID` header or the `last_event_id` query parameter
// (e.g. the id POST /events returned for the user.message, so nothing of its turn can be missed). It
// ends after session.status_terminated, with an `event: error` frame on a storage error, or when the
// client goes away.
//
// Slow clients: a stream has no queue of its own. It reads the session's log (from its cursor) only
// when its previous write is done, so a client that reads slowly only falls behind in the log, which
// is on disk, and a client that does not read at all holds one write of frames in memory (up to 256
// events, fewer when they are large: a write aims at about 1 MiB, never less than one event) plus
// the kernel's socket buffer. No thread waits on it; other streams, of the same session or not, go
// on. A write that makes no progress for write_timeout closes the stream (the log line "stream
// closed" says "reason": "write timed out: the client does not read (write_timeout)"); the client
// loses nothing: it reconnects with Last-Event-ID and reads on from there. The same holds for a
// plain response a client does not read.
//
// Threads: `io_threads` Asio threads do only socket work; every Engine call (appends wait for fsync,
// reads scan RocksDB) runs on a pool of `blocking_threads`. A stream holds no thread while it waits:
// the subscription's notifier posts to the connection's strand, and the pool reads what is new.
//
// /metrics and the API key: with require_api_key, /metrics needs a key like every other request.
// Metrics say how many sessions run, which routes are called and what fails; that is operational
// information about the tenant's agents, and Prometheus sends a key without trouble
// (`authorization: {type: Bearer, credentials: <key>}` in a scrape config), which the Bearer form
// of the key check accepts. Without require_api_key it is open, as the rest of the API is.
//
// Metrics of the server itself (in the same registry): wake_http_requests_total{method,route,status}
// and wake_http_request_seconds{method,route} (head read -> response ready; for an event stream, ->
// the stream opening). `route` is the route's template with ids as {id} ("/v1/sessions/{id}/events"),
// never the raw path; "none" for a request answered before it was routed (unknown route, missing or
// wrong key, malformed or oversized request).
//
// Logs: one JSON object per line (to `log`, stderr by default): each request with its status,
// duration, request id and session id; streams opened and closed; errors.
//
// Thread-safe. The Engine must outlive the server (Stop() returns only once nothing of the server
// touches it any more).

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "engine/engine.h"
#include "storage/api_key_store.h"

namespace wake {

struct ServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 0;  // 0: the kernel picks one (see Server::port())
  size_t io_threads = 2;
  size_t blocking_threads = 8;  // Engine calls
  size_t max_body_bytes = 32 * 1024 * 1024;
  size_t max_header_bytes = 64 * 1024;
  // How long a connection may wait for the next request's head (keep-alive), and then how long the
  // rest of a request (its body) may take to arrive.
  absl::Duration idle_timeout = absl::Seconds(60);
  absl::Duration read_timeout = absl::Seconds(30);
  // How long writing one response (or one batch of stream frames) may take before the client is
  // dropped as stalled (see "Slow clients" above).
  absl::Duration write_timeout = absl::Seconds(30);
  absl::Duration keepalive_interval = absl::Seconds(15);  // stream comments
  size_t max_sse_subscribers = 1024;
  // When true, every request needs `x-api-key: <key>` or `Authorization: Bearer <key>` with a key
  // `api_keys` accepts (not owned; must outlive the server). The store is checked on every request,
  // so keys created or revoked with `wakectl keys` count at once. A request works in its key's workspace
  // only (resources it creates are the workspace's; other workspaces' ids are 404, as missing ones;
  // see server/internal/api.h ApiOptions). 401 for no, a wrong, a revoked key or no key created yet; 5xx, and no request
  // accepted, while the key file is corrupt. waked sets this unless started with --no-auth.
  bool require_api_key = false;
  const ApiKeyStore* api_keys = nullptr;
  // Receives each log line (no newline). Empty: written to stderr.
  std::function<void(std::string_view line)> log;
};

class Server {
 public:
  virtual ~Server() = default;  // Stop()
  // The port listened on (the kernel's choice when ServerOptions::port was 0).
  virtual uint16_t port() const = 0;
  // Stops accepting, closes every connection (streams included), waits for Engine calls in flight
  // and joins the threads. Idempotent.
  virtual void Stop() = 0;
};

// Binds, listens and starts serving `engine` (not owned). InvalidArgument for bad options (e.g.
// require_api_key with no key store); Unavailable when the address cannot be bound.
absl::StatusOr<std::unique_ptr<Server>> StartServer(Engine* engine, ServerOptions options);

}  // namespace wake
