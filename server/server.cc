// The socket side of waked: a listener and one Connection per client on Boost.Beast, every
// operation with a timeout and every request body with a size limit; requests go to ApiHandler
// (server/internal/api.h) on the blocking pool, responses and stream frames come back to the
// connection's strand.

#include "server/server.h"

// Boost 1.74 with g++ 12 in C++20: some Asio headers use std::exchange without including <utility>.
#include <utility>

#include <atomic>
#include <chrono>
#include <map>
#include <optional>
#include <thread>
#include <vector>

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "base/status_macros.h"
#include "base/strings.h"
#include "base/sync.h"
#include "schemas/ids.h"
#include "server/internal/api.h"
#include "server/internal/auth.h"
#include "server/internal/log.h"

namespace wake {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = boost::asio::ip::tcp;
using server_internal::ApiHandler;
using server_internal::ApiRequest;
using server_internal::ApiResponse;
using server_internal::EventStream;
using server_internal::JsonLog;

// Events a stream reads from its subscription at a time, at most.
constexpr size_t kStreamBatch = 256;
// The frames a stream aims to have in one write. A stream holds no queue: it reads the log only once
// its previous write is done, so what a client that does not read costs the server is one write of
// frames (and the kernel's socket buffer) until write_timeout drops it. When events are large, the
// batch shrinks so that a write stays near this size (never below one event); it grows back when
// they are small.
constexpr size_t kStreamWriteBytes = 1024 * 1024;
// The most a connection reads and discards after refusing a request (see LingerThenClose).
constexpr size_t kMaxDrainBytes = 64 * 1024 * 1024;

std::chrono::steady_clock::duration ToChrono(absl::Duration d) { return absl::ToChronoNanoseconds(d); }

// A request's method as a metrics label: the ones HTTP defines, anything else "other".
std::string_view MethodLabel(std::string_view method) {
  for (std::string_view known : {"GET", "POST", "DELETE", "PUT", "PATCH", "HEAD", "OPTIONS"}) {
    if (method == known) return known;
  }
  return "other";
}

class Connection;

// What the listener and every connection share. Owned by ServerImpl; every connection is gone
// before it is destroyed (Stop waits for them).
struct ServerCore {
  ServerCore(Engine* engine, ServerOptions opts, server_internal::ApiOptions api_options, net::thread_pool& pool)
      : options(std::move(opts)),
        api(engine, std::move(api_options)),
        blocking(pool),
        log(options.log),
        requests(engine->metrics().AddCounterFamily("wake_http_requests_total",
                                                    "HTTP requests answered, by method, route template and status.",
                                                    {"method", "route", "status"})),
        request_seconds(engine->metrics().AddHistogramFamily(
            "wake_http_request_seconds",
            "HTTP request latency (head read to response ready; event streams: to the stream opening), by "
            "method and route template.",
            {"method", "route"}, FastLatencyBuckets())) {}

  // False when the server is stopping: the caller closes the connection.
  bool Register(uint64_t id, const std::shared_ptr<Connection>& connection) {
    MutexLock lock(&mu);
    if (stopping) return false;
    live.emplace(id, connection);
    return true;
  }
  void Unregister(uint64_t id) {
    MutexLock lock(&mu);
    live.erase(id);
    mu.SignalAll();
  }

  const ServerOptions options;
  ApiHandler api;
  net::thread_pool& blocking;
  const JsonLog log;
  CounterFamily& requests;
  HistogramFamily& request_seconds;
  std::atomic<uint64_t> next_connection_id{1};

  Mutex mu;
  bool stopping ABSL_GUARDED_BY(mu) = false;
  std::map<uint64_t, std::weak_ptr<Connection>> live ABSL_GUARDED_BY(mu);
};

// One client connection: HTTP/1.1 requests in turn (keep-alive), or, once a request opened an event
// stream, that stream until either side ends it. All its state is touched on its strand only, except
// the event stream's subscription, which the blocking pool reads while `reading_` is set.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(ServerCore* core, tcp::socket socket, uint64_t id)
      : core_(core), id_(id), tcp_(std::move(socket)), keepalive_(tcp_.get_executor()) {
    beast::error_code ec;
    const tcp::endpoint peer = tcp_.socket().remote_endpoint(ec);
    if (!ec) remote_ = absl::StrCat(peer.address().to_string(), ":", peer.port());
  }
  ~Connection() { core_->Unregister(id_); }

  void Start() {
    net::dispatch(tcp_.get_executor(), [self = shared_from_this()] { self->ReadHeader(); });
  }
  // From any thread.
  void Close() {
    net::post(tcp_.get_executor(), [self = shared_from_this()] { self->CloseNow("server stopping"); });
  }

 private:
  // --- requests -----------------------------------------------------------------------------------

  void ReadHeader() {
    if (closed_) return;
    parser_.emplace();
    parser_->header_limit(static_cast<uint32_t>(core_->options.max_header_bytes));
    parser_->body_limit(core_->options.max_body_bytes);
    tcp_.expires_after(ToChrono(core_->options.idle_timeout));
    http::async_read_header(tcp_, buffer_, *parser_,
                            beast::bind_front_handler(&Connection::OnHeader, shared_from_this()));
  }

  void OnHeader(beast::error_code ec, size_t) {
    if (closed_) return;
    started_ = absl::Now();
    request_id_ = FormatId("req_", NewIdBytes(started_));
    if (ec) return OnReadError(ec);
    const auto& header = parser_->get();
    method_ = std::string(header.method_string());
    target_ = std::string(header.target());
    keep_alive_ = header.keep_alive();
    version_ = header.version();
    // Refuse an announced oversized body before it is sent.
    if (auto length = parser_->content_length(); length && *length > core_->options.max_body_bytes) {
      return RespondAndClose(TooLarge());
    }
    if (absl::EqualsIgnoreCase(std::string(header[http::field::expect]), "100-continue")) {
      static const std::string kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      tcp_.expires_after(ToChrono(core_->options.write_timeout));
      net::async_write(tcp_, net::buffer(kContinue), [self = shared_from_this()](beast::error_code ec, size_t) {
        if (ec) return self->CloseNow();
        self->ReadBody();
      });
      return;
    }
    ReadBody();
  }

  void ReadBody() {
    if (closed_) return;
    if (parser_->is_done()) return Dispatch();
    tcp_.expires_after(ToChrono(core_->options.read_timeout));
    http::async_read(tcp_, buffer_, *parser_, [self = shared_from_this()](beast::error_code ec, size_t) {
      if (self->closed_) return;
      if (ec) return self->OnReadError(ec);
      self->Dispatch();
    });
  }

  void OnReadError(beast::error_code ec) {
    if (ec == http::error::body_limit) return RespondAndClose(TooLarge());
    if (ec == http::error::header_limit) {
      return RespondAndClose(server_internal::ErrorResponse(
          431, absl::StrCat("the request's headers exceed ", core_->options.max_header_bytes, " bytes")));
    }
    if (ec == http::error::end_of_stream || ec == beast::error::timeout || ec == net::error::operation_aborted ||
        ec == net::error::eof || ec == net::error::connection_reset || !parser_->got_some()) {
      return CloseNow();  // the client left or went quiet
    }
    RespondAndClose(server_internal::ErrorResponse(400, absl::StrCat("malformed HTTP request: ", ec.message())));
  }

  ApiResponse TooLarge() const {
    return server_internal::ErrorResponse(
        413, absl::StrCat("the request body exceeds ", core_->options.max_body_bytes, " bytes"));
  }

  void Dispatch() {
    ApiRequest request;
    http::request<http::string_body> message = parser_->release();
    request.method = std::string(message.method_string());
    request.target = std::string(message.target());
    for (const auto& field : message) {
      request.headers.emplace_back(absl::AsciiStrToLower(std::string(field.name_string())), std::string(field.value()));
    }
    request.body = std::move(message.body());
    // No timeout while the handler works (an append may wait for fsync); the write has its own.
    tcp_.expires_never();
    net::post(core_->blocking, [self = shared_from_this(), request = std::move(request)]() mutable {
      ApiResponse response = self->core_->api.Handle(request);
      net::post(self->tcp_.get_executor(), [self, response = std::move(response)]() mutable {
        self->OnResponse(std::move(response));
      });
    });
  }

  void OnResponse(ApiResponse response) {
    if (closed_) return;
    if (response.stream && response.stream->one_response()) return StartOneResponse(std::move(response));
    if (response.stream) return StartStream(std::move(response));
    LogRequest(response);
    Write(std::move(response), keep_alive_);
  }

  void RespondAndClose(ApiResponse response) {
    LogRequest(response);
    Write(std::move(response), /*keep_alive=*/false);
  }

  void Write(ApiResponse response, bool keep_alive) {
    auto message = std::make_shared<http::response<http::string_body>>(
        static_cast<http::status>(response.status), version_ == 10 ? 10 : 11);
    message->set(http::field::content_type, "application/json");
    message->set("request-id", request_id_);
    for (const auto& [name, value] : response.headers) message->set(name, value);
    message->keep_alive(keep_alive);
    message->body() = std::move(response.body);
    message->prepare_payload();
    tcp_.expires_after(ToChrono(core_->options.write_timeout));
    http::async_write(tcp_, *message, [self = shared_from_this(), message, keep_alive](beast::error_code ec, size_t) {
      if (ec) return self->CloseNow();
      if (!keep_alive) return self->LingerThenClose();
      self->ReadHeader();
    });
  }

  // Ends the connection after a response that may have left part of its request unread (a 413
  // refused before the body was read). Closing a socket with unread input makes the kernel reset
  // the connection, which can destroy the response before the client has read it; so the server
  // stops sending, then reads and discards until the client closes (within read_timeout and
  // kMaxDrainBytes), then closes.
  void LingerThenClose() {
    beast::error_code ec;
    tcp_.socket().shutdown(tcp::socket::shutdown_send, ec);
    if (ec) return CloseNow();
    drain_buffer_.resize(16 * 1024);
    Drain();
  }

  void Drain() {
    if (closed_) return;
    tcp_.expires_after(ToChrono(core_->options.read_timeout));
    tcp_.async_read_some(net::buffer(drain_buffer_), [self = shared_from_this()](beast::error_code ec, size_t n) {
      self->drained_ += n;
      if (ec || self->drained_ > kMaxDrainBytes) return self->CloseNow();
      self->Drain();
    });
  }

  // Logs the request and counts it in the metrics (before its response is written, so a client that
  // has the response finds it counted).
  void LogRequest(const ApiResponse& response) {
    const absl::Duration took = absl::Now() - started_;
    const double ms = absl::ToDoubleMilliseconds(took);
    // "none": answered before routing (no such route, a bad key, a malformed or oversized request).
    const std::string_view route = response.route.empty() ? std::string_view("none") : response.route;
    const std::string_view method = MethodLabel(method_);
    core_->requests.WithLabels({method, route, std::to_string(response.status)}).Increment();
    core_->request_seconds.WithLabels({method, route}).ObserveDuration(took);
    core_->log.Write(response.status >= 500 ? "error" : "info", "request",
                     {{"request_id", request_id_},
                      {"method", method_},
                      {"target", target_},
                      {"status", int64_t{response.status}},
                      {"ms", ms},
                      {"session", response.session_id},
                      {"error", response.error},
                      {"remote", remote_}});
  }

  // --- event streams ------------------------------------------------------------------------------

  // The notifier runs on the log's committing thread, under the log's lock: it only posts. It holds
  // no strong reference, so the connection (and with it the subscription) is never destroyed there.
  void Follow(ApiResponse& response) {
    events_ = std::shared_ptr<EventStream>(std::move(response.stream));
    session_id_ = events_->session_id();
    std::weak_ptr<Connection> weak = shared_from_this();
    auto executor = tcp_.get_executor();
    events_->subscription().SetNotifier([weak, executor] {
      net::post(executor, [weak] {
        if (std::shared_ptr<Connection> self = weak.lock()) self->OnNotify();
      });
    });
  }

  // A request answered once its events say so (see EventStream): nothing is written until then, and
  // no thread waits. The connection closes after the answer (it is not read meanwhile, so a client
  // that went away is noticed when the answer is written).
  void StartOneResponse(ApiResponse response) {
    Follow(response);
    one_response_ = true;
    keepalive_.expires_after(ToChrono(events_->one_response_within()));
    keepalive_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (ec || self->closed_ || !self->one_response_) return;
      self->FinishOneResponse(self->events_->Unfinished());
    });
    dirty_ = true;  // what is there already may end it
    Pump();
  }

  void FinishOneResponse(std::string body) {
    one_response_ = false;
    keepalive_.cancel();
    events_->subscription().Cancel();
    events_->subscription().SetNotifier(nullptr);
    events_.reset();  // a read still on the pool finishes with its own reference (OnEvents drops it)
    ApiResponse response;
    response.body = std::move(body);
    response.session_id = session_id_;
    LogRequest(response);
    Write(std::move(response), /*keep_alive=*/false);
  }

  void StartStream(ApiResponse response) {
    Follow(response);
    LogRequest(response);
    auto head = std::make_shared<http::response<http::empty_body>>(http::status::ok, version_ == 10 ? 10 : 11);
    head->set(http::field::content_type, "text/event-stream");
    head->set(http::field::cache_control, "no-cache");
    head->set("request-id", request_id_);
    head->set("x-accel-buffering", "no");
    head->keep_alive(false);  // the connection ends with the stream
    head->chunked(version_ != 10);
    auto serializer = std::make_shared<http::response_serializer<http::empty_body>>(*head);
    tcp_.expires_after(ToChrono(core_->options.write_timeout));
    writing_ = true;
    http::async_write_header(tcp_, *serializer,
                             [self = shared_from_this(), head, serializer](beast::error_code ec, size_t) {
                               self->writing_ = false;
                               if (ec || self->closed_) return self->CloseNow(WriteFailure(ec));
                               self->WatchPeer();
                               self->ArmKeepalive();
                               self->dirty_ = true;  // send what is already there (a resumed stream)
                               self->Pump();
                             });
  }

  void OnNotify() {
    if (closed_ || !events_) return;
    dirty_ = true;
    Pump();
  }

  // Reads what is new, on the blocking pool, unless a read or a write is in progress (their ends
  // call Pump again). `dirty_` remembers a notification that came meanwhile.
  void Pump() {
    if (closed_ || reading_ || writing_ || !dirty_ || ended_) return;
    dirty_ = false;
    reading_ = true;
    net::post(core_->blocking, [self = shared_from_this(), events = events_, limit = batch_limit_] {
      // A past deadline: Next returns what is there without waiting.
      absl::StatusOr<std::vector<Event>> batch = events->subscription().Next(limit, absl::InfinitePast());
      net::post(self->tcp_.get_executor(), [self, batch = std::move(batch)]() mutable {
        self->OnEvents(std::move(batch));
      });
    });
  }

  void OnEvents(absl::StatusOr<std::vector<Event>> batch) {
    reading_ = false;
    if (closed_ || !events_) return;  // no events_: a one-response stream answered meanwhile
    if (!batch.ok()) {
      if (absl::IsCancelled(batch.status())) return CloseNow("cancelled");
      core_->log.Write("error", "stream read failed",
                       {{"request_id", request_id_}, {"session", session_id_}, {"error", FromAbsl(batch.status().message())}});
      ended_ = true;
      std::string report = events_->ErrorFrame(batch.status());
      if (one_response_) return FinishOneResponse(std::move(report));
      return WriteChunk(std::move(report));
    }
    if (batch->size() == batch_limit_) dirty_ = true;  // there may be more already
    std::string frames = events_->Frames(*batch, &ended_);
    AdjustBatch(batch->size(), frames.size());
    events_sent_ += static_cast<int64_t>(batch->size());
    if (one_response_) {
      if (ended_) return FinishOneResponse(std::move(frames));
      return Pump();
    }
    if (!frames.empty()) return WriteChunk(std::move(frames));
    if (ended_) return EndStream();
    if (keepalive_due_) return SendKeepalive();
    Pump();
  }

  // Sizes the next read so that its frames come near kStreamWriteBytes (see there).
  void AdjustBatch(size_t events, size_t bytes) {
    if (events == 0) return;
    if (bytes > kStreamWriteBytes) {
      batch_limit_ = std::max<size_t>(1, events * kStreamWriteBytes / bytes);
    } else if (events == batch_limit_ && bytes < kStreamWriteBytes / 2) {
      batch_limit_ = std::min(kStreamBatch, batch_limit_ * 2);
    }
  }

  void WriteChunk(std::string data) {
    writing_ = true;
    auto chunk = std::make_shared<std::string>(std::move(data));
    tcp_.expires_after(ToChrono(core_->options.write_timeout));
    auto done = [self = shared_from_this(), chunk](beast::error_code ec, size_t) {
      self->writing_ = false;
      if (ec || self->closed_) return self->CloseNow(WriteFailure(ec));
      if (self->ended_) return self->EndStream();
      if (self->keepalive_due_) return self->SendKeepalive();
      self->Pump();
    };
    if (version_ == 10) {
      net::async_write(tcp_, net::buffer(*chunk), std::move(done));
    } else {
      net::async_write(tcp_, http::make_chunk(net::buffer(*chunk)), std::move(done));
    }
  }

  void EndStream() {
    if (closed_) return;
    if (version_ == 10) return CloseNow("ended");
    writing_ = true;
    tcp_.expires_after(ToChrono(core_->options.write_timeout));
    net::async_write(tcp_, http::make_chunk_last(), [self = shared_from_this()](beast::error_code, size_t) {
      self->writing_ = false;
      self->CloseNow("ended");
    });
  }

  void ArmKeepalive() {
    keepalive_.expires_after(ToChrono(core_->options.keepalive_interval));
    keepalive_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (ec || self->closed_) return;
      self->keepalive_due_ = true;
      // Not while a read is on the pool either: its events are written when it returns, and two
      // writes must never be in flight on one socket. (The write's or the read's end sends it.)
      if (!self->writing_ && !self->reading_) self->SendKeepalive();
      self->ArmKeepalive();
    });
  }

  void SendKeepalive() {
    keepalive_due_ = false;
    if (closed_ || ended_ || !events_) return;
    WriteChunk(events_->Keepalive(&ended_));  // may be the last frame (a revoked key)
  }

  // A client of an event stream sends nothing more; a read completes only when it goes away.
  void WatchPeer() {
    tcp_.socket().async_read_some(net::buffer(peer_buffer_), [self = shared_from_this()](beast::error_code ec, size_t) {
      // Aborted while the stream is open: a write timed out and closed the socket; the write's own
      // handler closes the stream and says so.
      if (ec == net::error::operation_aborted && !self->closed_) return;
      if (ec || self->closed_) return self->CloseNow("client went away");
      self->WatchPeer();
    });
  }

  // --- closing ------------------------------------------------------------------------------------

  // Why a write ended a connection, for the log: a timeout means the client stopped reading.
  static std::string WriteFailure(beast::error_code ec) {
    if (ec == beast::error::timeout) return "write timed out: the client does not read (write_timeout)";
    if (!ec) return "closed";
    return absl::StrCat("write failed: ", ec.message());
  }

  // `reason` says in the stream's log line why it ended.
  void CloseNow(std::string_view reason = "closed") {
    if (closed_) return;
    closed_ = true;
    keepalive_.cancel();
    if (events_) {
      // A read in progress on the pool finishes with its own reference; nothing waits on it.
      events_->subscription().Cancel();
      events_->subscription().SetNotifier(nullptr);
      core_->log.Write("info", "stream closed",
                       {{"request_id", request_id_},
                        {"session", session_id_},
                        {"events", events_sent_},
                        {"reason", reason},
                        {"seconds", absl::ToDoubleSeconds(absl::Now() - started_)}});
      events_.reset();
    }
    beast::error_code ec;
    tcp_.socket().shutdown(tcp::socket::shutdown_both, ec);
    tcp_.close();
  }

  ServerCore* const core_;
  const uint64_t id_;
  beast::tcp_stream tcp_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::string remote_;
  bool closed_ = false;

  // The request being served.
  absl::Time started_;
  std::string request_id_;
  std::string method_;
  std::string target_;
  bool keep_alive_ = true;
  unsigned version_ = 11;

  // The event stream, once one is open (or the one-response stream being followed).
  std::shared_ptr<EventStream> events_;
  std::string session_id_;
  net::steady_timer keepalive_;
  char peer_buffer_[256];
  std::vector<char> drain_buffer_;
  size_t drained_ = 0;
  bool reading_ = false;  // a Next() on the pool
  bool writing_ = false;
  bool dirty_ = false;    // new events may be waiting
  bool ended_ = false;    // the last frame has been written (or is being written)
  bool keepalive_due_ = false;
  bool one_response_ = false;  // following a one-response stream (keepalive_ is its deadline)
  size_t batch_limit_ = kStreamBatch;  // events the next read may return (AdjustBatch)
  int64_t events_sent_ = 0;
};

class Listener : public std::enable_shared_from_this<Listener> {
 public:
  Listener(ServerCore* core, net::io_context& ioc, tcp::acceptor acceptor)
      : core_(core), ioc_(ioc), acceptor_(std::move(acceptor)), retry_(acceptor_.get_executor()) {}

  void Start() {
    net::dispatch(acceptor_.get_executor(), [self = shared_from_this()] { self->Accept(); });
  }
  // Closes the listening socket and returns once it is closed: a Stop() that returned while the port
  // still listened would leave clients connecting into a backlog nobody accepts from.
  void Close() {
    Notification closed;
    net::post(acceptor_.get_executor(), [self = shared_from_this(), &closed] {
      beast::error_code ec;
      self->acceptor_.close(ec);
      self->retry_.cancel();
      closed.Notify();
    });
    closed.WaitForNotification();
  }

 private:
  void Accept() {
    acceptor_.async_accept(net::make_strand(ioc_), [self = shared_from_this()](beast::error_code ec, tcp::socket socket) {
      self->OnAccept(ec, std::move(socket));
    });
  }

  void OnAccept(beast::error_code ec, tcp::socket socket) {
    if (!acceptor_.is_open()) return;
    if (ec) {
      // E.g. out of file descriptors: say so, and try again shortly rather than spin.
      core_->log.Write("error", "accept failed", {{"error", ec.message()}});
      retry_.expires_after(std::chrono::milliseconds(100));
      retry_.async_wait([self = shared_from_this()](beast::error_code ec) {
        if (!ec) self->Accept();
      });
      return;
    }
    const uint64_t id = core_->next_connection_id.fetch_add(1);
    auto connection = std::make_shared<Connection>(core_, std::move(socket), id);
    if (core_->Register(id, connection)) connection->Start();
    Accept();
  }

  ServerCore* const core_;
  net::io_context& ioc_;
  tcp::acceptor acceptor_;
  net::steady_timer retry_;
};

class ServerImpl final : public Server {
 public:
  ServerImpl(size_t io_threads, size_t blocking_threads)
      : ioc_(static_cast<int>(io_threads)), work_(net::make_work_guard(ioc_)), pool_(blocking_threads) {}
  ~ServerImpl() override { Stop(); }

  absl::Status Start(Engine* engine, ServerOptions options, server_internal::ApiOptions api_options) {
    const size_t io_threads = std::max<size_t>(1, options.io_threads);
    const std::string host = options.host;
    const uint16_t port = options.port;
    core_ = std::make_unique<ServerCore>(engine, std::move(options), std::move(api_options), pool_);

    beast::error_code ec;
    tcp::resolver resolver(ioc_);
    auto endpoints = resolver.resolve(host, std::to_string(port), tcp::resolver::passive, ec);
    if (ec || endpoints.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("cannot resolve host \"", host, "\": ", ec.message()));
    }
    const tcp::endpoint endpoint = endpoints.begin()->endpoint();
    tcp::acceptor acceptor(net::make_strand(ioc_));
    acceptor.open(endpoint.protocol(), ec);
    if (!ec) acceptor.set_option(net::socket_base::reuse_address(true), ec);
    if (!ec) acceptor.bind(endpoint, ec);
    if (!ec) acceptor.listen(net::socket_base::max_listen_connections, ec);
    if (ec) {
      return absl::UnavailableError(absl::StrCat("cannot listen on ", host, ":", port, ": ", ec.message()));
    }
    port_ = acceptor.local_endpoint().port();
    listener_ = std::make_shared<Listener>(core_.get(), ioc_, std::move(acceptor));
    listener_->Start();
    for (size_t i = 0; i < io_threads; ++i) threads_.emplace_back([this] { ioc_.run(); });
    core_->log.Write("info", "listening", {{"host", host}, {"port", int64_t{port_}}});
    return absl::OkStatus();
  }

  uint16_t port() const override { return port_; }

  void Stop() override {
    if (stopped_.exchange(true)) return;
    if (core_ != nullptr) {
      if (listener_) listener_->Close();
      std::vector<std::shared_ptr<Connection>> open;
      {
        MutexLock lock(&core_->mu);
        core_->stopping = true;
        for (auto& [id, weak] : core_->live) {
          if (std::shared_ptr<Connection> connection = weak.lock()) open.push_back(std::move(connection));
        }
      }
      for (const auto& connection : open) connection->Close();
      open.clear();
      // Connections end on the io threads (their handlers complete as aborted) and, with them, their
      // subscriptions: none may outlive the io_context, whose strands their notifiers post to.
      MutexLock lock(&core_->mu);
      core_->mu.Await([this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(core_->mu) { return core_->live.empty(); });
    }
    listener_.reset();
    work_.reset();
    ioc_.stop();
    for (std::thread& t : threads_) t.join();
    threads_.clear();
    pool_.join();
    if (core_ != nullptr) core_->log.Write("info", "stopped", {{"port", int64_t{port_}}});
  }

 private:
  net::io_context ioc_;
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work_;
  net::thread_pool pool_;
  std::unique_ptr<ServerCore> core_;
  std::shared_ptr<Listener> listener_;
  std::vector<std::thread> threads_;
  uint16_t port_ = 0;
  std::atomic<bool> stopped_{false};
};

}  // namespace

absl::StatusOr<std::unique_ptr<Server>> StartServer(Engine* engine, ServerOptions options) {
  if (engine == nullptr) return absl::InvalidArgumentError("StartServer: no engine");
  server_internal::ApiOptions api;
  api.require_api_key = options.require_api_key;
  api.max_sse_subscribers = options.max_sse_subscribers;
  api.api_keys = options.api_keys;
  if (options.require_api_key && api.api_keys == nullptr) {
    return absl::InvalidArgumentError("require_api_key is set but no API key store is given: no request could pass");
  }
  if (options.max_body_bytes == 0 || options.keepalive_interval <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("max_body_bytes and keepalive_interval must be positive");
  }
  auto server = std::make_unique<ServerImpl>(std::max<size_t>(1, options.io_threads),
                                             std::max<size_t>(1, options.blocking_threads));
  RETURN_IF_ERROR(server->Start(engine, std::move(options), std::move(api)));
  return server;
}

}  // namespace wake
