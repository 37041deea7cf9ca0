#include "tests/harness/fake_model_server.h"

#include <sys/socket.h>

#include <deque>
#include <fstream>
#include <random>
#include <set>
#include <sstream>
#include <thread>
// Boost 1.74 with g++ 12 in C++20: some Asio headers use std::exchange without including <utility>.
#include <utility>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "base/strings.h"
#include "base/sync.h"

namespace wake::testing {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = boost::asio::ip::tcp;

FakeResponse FakeResponse::Sse(std::string_view body, size_t chunk_size) {
  FakeResponse response;
  response.headers = {{"content-type", "text/event-stream"}, {"cache-control", "no-cache"}};
  response.chunks = chunk_size == 0 ? std::vector<std::string>{std::string(body)} : SplitEvery(body, chunk_size);
  return response;
}

FakeResponse FakeResponse::Json(int status, std::string_view body) {
  FakeResponse response;
  response.status = status;
  response.headers = {{"content-type", "application/json"}};
  response.chunks = {std::string(body)};
  return response;
}

FakeResponse FakeResponse::Silent() {
  FakeResponse response;
  response.send_head = false;
  response.ending = Ending::kHang;
  return response;
}

std::string RecordedRequest::Header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (key == name) return value;
  }
  return "";
}

struct FakeModelServer::Impl {
  net::io_context io;  // never run: the server uses blocking socket calls on its own threads
  tcp::acceptor acceptor{io};
  int listen_fd = -1;
  uint16_t port = 0;
  std::thread accept_thread;

  mutable Mutex mu;
  std::deque<FakeResponse> queue ABSL_GUARDED_BY(mu);
  std::vector<RecordedRequest> requests ABSL_GUARDED_BY(mu);
  std::function<FakeResponse(const RecordedRequest&)> responder ABSL_GUARDED_BY(mu);
  size_t responses_sent ABSL_GUARDED_BY(mu) = 0;
  size_t connections ABSL_GUARDED_BY(mu) = 0;
  bool stopping ABSL_GUARDED_BY(mu) = false;
  std::vector<std::thread> connection_threads ABSL_GUARDED_BY(mu);
  // Sockets of live connections. A connection leaves the set before its socket closes, so Stop
  // never shuts down a descriptor number the kernel has reused.
  std::set<int> open_fds ABSL_GUARDED_BY(mu);

  void AcceptLoop() {
    while (true) {
      tcp::socket socket(io);
      beast::error_code ec;
      acceptor.accept(socket, ec);
      MutexLock lock(&mu);
      if (stopping) return;
      if (ec) {
        if (ec == net::error::connection_aborted || ec == net::error::interrupted) continue;
        return;
      }
      ++connections;
      open_fds.insert(socket.native_handle());
      connection_threads.emplace_back([this, s = std::move(socket)]() mutable { Serve(std::move(s)); });
    }
  }

  void Serve(tcp::socket socket) {
    beast::error_code ec;
    socket.set_option(tcp::no_delay(true), ec);
    beast::flat_buffer buffer;
    while (true) {
      http::request_parser<http::string_body> parser;
      parser.body_limit(256 * 1024 * 1024);
      http::read(socket, buffer, parser, ec);
      if (ec) break;
      const http::request<http::string_body>& request = parser.get();
      RecordedRequest record;
      record.method = std::string(request.method_string());
      record.target = std::string(request.target());
      for (const auto& field : request) {
        record.headers.emplace_back(absl::AsciiStrToLower(absl::string_view(field.name_string().data(),
                                                                            field.name_string().size())),
                                    std::string(field.value()));
      }
      record.body = request.body();
      record.received_at = absl::Now();
      FakeResponse response;
      {
        MutexLock lock(&mu);
        if (responder) {
          response = responder(record);
          requests.push_back(std::move(record));
        } else if (requests.push_back(std::move(record)); queue.empty()) {
          response = FakeResponse::Json(
              500, R"({"type":"error","error":{"type":"api_error","message":"fake model server: no scripted response"}})");
        } else {
          response = std::move(queue.front());
          queue.pop_front();
        }
      }
      mu.SignalAll();
      const bool keep_open = Respond(socket, response) && request.keep_alive();
      if (!keep_open) break;
    }
    {
      MutexLock lock(&mu);
      open_fds.erase(socket.native_handle());
    }
    socket.close(ec);
  }

  // Writes `response`; false when the connection must close afterwards.
  bool Respond(tcp::socket& socket, const FakeResponse& response) {
    beast::error_code ec;
    http::response<http::empty_body> head;
    head.version(11);
    head.result(static_cast<unsigned>(response.status));
    if (head.reason().empty() || head.reason() == "<unknown-status>") head.reason("Fake Status");
    for (const auto& [name, value] : response.headers) head.set(name, value);
    const bool chunked = response.framing == FakeResponse::Framing::kChunked;
    if (chunked) {
      head.chunked(true);
    } else {
      head.keep_alive(false);  // "Connection: close": the body ends when the connection does
    }
    http::response_serializer<http::empty_body> serializer(head);
    if (response.send_head) http::write_header(socket, serializer, ec);
    if (response.first_chunk_delay > absl::ZeroDuration()) absl::SleepFor(response.first_chunk_delay);
    bool first_chunk = true;
    for (const std::string& chunk : response.chunks) {
      if (ec) break;
      if (chunk.empty()) continue;  // an empty chunk would end a chunked body
      if (!first_chunk && response.chunk_interval > absl::ZeroDuration()) absl::SleepFor(response.chunk_interval);
      first_chunk = false;
      if (chunked) {
        net::write(socket, http::make_chunk(net::buffer(chunk)), ec);
      } else {
        net::write(socket, net::buffer(chunk), ec);
      }
    }
    {
      MutexLock lock(&mu);
      ++responses_sent;
    }
    mu.SignalAll();
    if (ec) return false;
    switch (response.ending) {
      case FakeResponse::Ending::kComplete:
        if (!chunked) return false;
        net::write(socket, http::make_chunk_last(), ec);
        return !ec;
      case FakeResponse::Ending::kHang: {
        // Never finish: wait until the client goes away or Stop shuts the socket down.
        char byte;
        while (!ec) socket.read_some(net::buffer(&byte, 1), ec);
        return false;
      }
      case FakeResponse::Ending::kCut:
        return false;  // closing now leaves the body unterminated
    }
    return false;
  }
};

FakeModelServer::FakeModelServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

absl::StatusOr<std::unique_ptr<FakeModelServer>> FakeModelServer::Start() {
  auto impl = std::make_unique<Impl>();
  beast::error_code ec;
  const tcp::endpoint endpoint(net::ip::make_address_v4("127.0.0.1"), 0);
  impl->acceptor.open(endpoint.protocol(), ec);
  if (!ec) impl->acceptor.bind(endpoint, ec);
  if (!ec) impl->acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec) return absl::UnavailableError(absl::StrCat("fake model server: cannot listen: ", ec.message()));
  impl->port = impl->acceptor.local_endpoint(ec).port();
  if (ec) return absl::UnavailableError(absl::StrCat("fake model server: ", ec.message()));
  impl->listen_fd = impl->acceptor.native_handle();
  Impl* raw = impl.get();
  impl->accept_thread = std::thread([raw] { raw->AcceptLoop(); });
  return std::unique_ptr<FakeModelServer>(new FakeModelServer(std::move(impl)));
}

FakeModelServer::~FakeModelServer() { Stop(); }

uint16_t FakeModelServer::port() const { return impl_->port; }

std::string FakeModelServer::base_url() const { return absl::StrCat("http://127.0.0.1:", impl_->port); }

void FakeModelServer::Enqueue(FakeResponse response) {
  MutexLock lock(&impl_->mu);
  impl_->queue.push_back(std::move(response));
}

void FakeModelServer::SetResponder(std::function<FakeResponse(const RecordedRequest&)> responder) {
  MutexLock lock(&impl_->mu);
  impl_->responder = std::move(responder);
}

std::vector<RecordedRequest> FakeModelServer::requests() const {
  MutexLock lock(&impl_->mu);
  return impl_->requests;
}

size_t FakeModelServer::connections_accepted() const {
  MutexLock lock(&impl_->mu);
  return impl_->connections;
}

void FakeModelServer::WaitForRequests(size_t n) const {
  Impl& impl = *impl_;
  MutexLock lock(&impl.mu);
  impl.mu.Await([&]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return impl.requests.size() >= n; });
}

void FakeModelServer::WaitForResponsesSent(size_t n) const {
  Impl& impl = *impl_;
  MutexLock lock(&impl.mu);
  impl.mu.Await([&]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return impl.responses_sent >= n; });
}

void FakeModelServer::Stop() {
  Impl& impl = *impl_;
  {
    MutexLock lock(&impl.mu);
    if (impl.stopping) return;
    impl.stopping = true;
    // Wakes connection threads blocked reading a request or hanging on a client.
    for (int fd : impl.open_fds) ::shutdown(fd, SHUT_RDWR);
  }
  ::shutdown(impl.listen_fd, SHUT_RDWR);  // wakes the blocked accept (Linux)
  if (impl.accept_thread.joinable()) impl.accept_thread.join();
  std::vector<std::thread> threads;
  {
    MutexLock lock(&impl.mu);
    threads.swap(impl.connection_threads);
  }
  for (std::thread& thread : threads) thread.join();
  beast::error_code ec;
  impl.acceptor.close(ec);
}

std::vector<std::string> SplitEvery(std::string_view body, size_t size) {
  std::vector<std::string> pieces;
  for (size_t i = 0; i < body.size(); i += size) pieces.emplace_back(body.substr(i, size));
  return pieces;
}

std::vector<std::string> SplitRandomly(std::string_view body, uint64_t seed, size_t max_size) {
  std::mt19937_64 generator(seed);
  std::uniform_int_distribution<size_t> size(1, max_size);
  std::vector<std::string> pieces;
  for (size_t i = 0; i < body.size();) {
    const size_t n = size(generator);
    pieces.emplace_back(body.substr(i, n));
    i += n;
  }
  return pieces;
}

absl::StatusOr<std::string> LoadRecordedStream(std::string_view file_name) {
  const std::string path = absl::StrCat(WAKE_MODEL_TESTDATA_DIR, "/", ToAbsl(file_name));
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::ostringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

}  // namespace wake::testing
