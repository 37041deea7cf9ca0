#include "tests/managed_agents/replay_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "simdjson.h"

namespace wake::testing {
namespace {

bool SendAll(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

const char* Reason(int status) {
  switch (status) {
    case 200: return "OK";
    case 404: return "Not Found";
    case 429: return "Too Many Requests";
    case 529: return "Overloaded";
    default: return "Status";
  }
}

}  // namespace

ReplayServer::ReplayServer() {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  ::listen(listen_fd_, 64);
  socklen_t len = sizeof(addr);
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  acceptor_ = std::thread([this] { AcceptLoop(); });
}

ReplayServer::~ReplayServer() { Stop(); }

std::string ReplayServer::url() const { return absl::StrCat("http://127.0.0.1:", port_); }

void ReplayServer::Add(const std::string& method, const std::string& path, CannedResponse response) {
  MutexLock lock(&mu_);
  routes_[absl::StrCat(method, " ", path)].push_back(std::move(response));
}

std::vector<RecordedRequest> ReplayServer::requests() const {
  MutexLock lock(&mu_);
  return requests_;
}

int ReplayServer::Count(const std::string& method, const std::string& path) const {
  MutexLock lock(&mu_);
  int n = 0;
  for (const RecordedRequest& r : requests_) {
    if (r.method == method && r.target.substr(0, r.target.find('?')) == path) ++n;
  }
  return n;
}

void ReplayServer::Stop() {
  if (stopping_.exchange(true)) return;
  acceptor_.join();
  ::close(listen_fd_);
  std::vector<std::thread> connections;
  {
    MutexLock lock(&mu_);
    connections.swap(connections_);
  }
  for (std::thread& t : connections) t.join();
}

void ReplayServer::AcceptLoop() {
  while (!stopping_.load()) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (::poll(&p, 1, 20) <= 0) continue;
    const int fd = ::accept(listen_fd_, nullptr, nullptr);
    if (fd < 0) continue;
    MutexLock lock(&mu_);
    connections_.emplace_back([this, fd] {
      Serve(fd);
      ::close(fd);
    });
  }
}

void ReplayServer::Serve(int fd) {
  // The request: headers up to the blank line, then content-length bytes of body.
  std::string in;
  char buffer[8192];
  size_t header_end = std::string::npos;
  size_t length = 0;
  while (true) {
    if (header_end == std::string::npos) {
      header_end = in.find("\r\n\r\n");
      if (header_end != std::string::npos) {
        for (absl::string_view line : absl::StrSplit(absl::string_view(in).substr(0, header_end), "\r\n")) {
          const size_t colon = line.find(':');
          if (colon != absl::string_view::npos &&
              absl::AsciiStrToLower(line.substr(0, colon)) == "content-length") {
            (void)absl::SimpleAtoi(absl::StripAsciiWhitespace(line.substr(colon + 1)), &length);
          }
        }
      }
    }
    if (header_end != std::string::npos && in.size() >= header_end + 4 + length) break;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 20) <= 0) {
      if (stopping_.load()) return;
      continue;
    }
    const ssize_t n = ::recv(fd, buffer, sizeof(buffer), 0);
    if (n <= 0) return;
    in.append(buffer, static_cast<size_t>(n));
  }
  RecordedRequest request;
  std::vector<std::string> lines = absl::StrSplit(in.substr(0, header_end), "\r\n");
  std::vector<std::string> first = absl::StrSplit(lines[0], ' ');
  request.method = first.size() > 0 ? first[0] : "";
  request.target = first.size() > 1 ? first[1] : "";
  for (size_t i = 1; i < lines.size(); ++i) {
    const size_t colon = lines[i].find(':');
    if (colon == std::string::npos) continue;
    request.headers[absl::AsciiStrToLower(lines[i].substr(0, colon))] =
        std::string(absl::StripAsciiWhitespace(lines[i].substr(colon + 1)));
  }
  request.body = in.substr(header_end + 4, length);
  const std::string route = absl::StrCat(request.method, " ", request.target.substr(0, request.target.find('?')));
  CannedResponse response;
  bool found = false;
  {
    MutexLock lock(&mu_);
    requests_.push_back(request);
    auto it = routes_.find(route);
    if (it != routes_.end() && !it->second.empty()) {
      found = true;
      response = it->second.front();
      if (it->second.size() > 1) it->second.pop_front();
    }
  }
  if (!found) {
    response.status = 404;
    response.body = absl::StrCat(R"({"type":"error","error":{"type":"not_found_error","message":"no canned answer for )",
                                 route, R"("}})");
  }
  if (response.end == CannedResponse::End::kNever) {
    while (!stopping_.load()) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 20) > 0 && ::recv(fd, buffer, sizeof(buffer), 0) <= 0) return;  // the client hung up
    }
    return;
  }
  std::string head = absl::StrCat("HTTP/1.1 ", response.status, " ", Reason(response.status),
                                  "\r\ncontent-type: ", response.content_type, "\r\nconnection: close\r\n");
  for (const auto& [name, value] : response.headers) absl::StrAppend(&head, name, ": ", value, "\r\n");
  switch (response.end) {
    case CannedResponse::End::kComplete:
      absl::StrAppend(&head, "content-length: ", response.body.size(), "\r\n\r\n");
      SendAll(fd, head + response.body);
      return;
    case CannedResponse::End::kCut:
      absl::StrAppend(&head, "content-length: ", response.body.size() + 4096, "\r\n\r\n");
      SendAll(fd, head + response.body);
      return;  // closed short of the promised length: the client sees the transfer cut
    case CannedResponse::End::kNever:
      return;  // answered above
    case CannedResponse::End::kPinging:
      absl::StrAppend(&head, "\r\n");
      if (!SendAll(fd, head + response.body)) return;
      while (!stopping_.load()) {
        if (!SendAll(fd, ": ping\n\n")) return;  // the client hung up
        ::usleep(20 * 1000);
      }
      return;
  }
}

std::string SseBody(const std::vector<std::string>& events) {
  std::string out;
  for (const std::string& json : events) {
    simdjson::dom::parser parser;
    simdjson::dom::element root;
    std::string_view type;
    if (parser.parse(json).get(root) != simdjson::SUCCESS || root["type"].get(type) != simdjson::SUCCESS) type = "";
    absl::StrAppend(&out, "event: ", std::string(type), "\ndata: ", json, "\n\n");
  }
  return out;
}

std::string TestData(const std::string& name) {
  std::ifstream in(absl::StrCat(WAKE_MA_TESTDATA, "/", name));
  std::stringstream content;
  content << in.rdbuf();
  return content.str();
}

std::vector<std::string> TestDataLines(const std::string& name) {
  std::vector<std::string> lines;
  for (absl::string_view line : absl::StrSplit(TestData(name), '\n')) {
    if (!absl::StripAsciiWhitespace(line).empty()) lines.emplace_back(line);
  }
  return lines;
}

}  // namespace wake::testing
