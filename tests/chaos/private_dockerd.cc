#include "tests/chaos/private_dockerd.h"

#include <signal.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "curl/curl.h"
#include "simdjson.h"
#include "tests/server/waked_process.h"

namespace wake::testing {
namespace {

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string Tail(const std::string& text, size_t n = 2000) {
  return text.size() > n ? text.substr(text.size() - n) : text;
}

// The path of program `name` in the first system directory that has it ("" when none does).
std::string Find(const std::string& name) {
  for (const char* dir : {"/usr/sbin", "/usr/bin", "/sbin", "/bin", "/usr/local/sbin", "/usr/local/bin"}) {
    const std::string path = absl::StrCat(dir, "/", name);
    if (access(path.c_str(), X_OK) == 0) return path;
  }
  return "";
}

size_t AppendBody(char* data, size_t size, size_t n, void* body) {
  static_cast<std::string*>(body)->append(data, size * n);
  return size * n;
}

// Stops `pid` with `sig`, then SIGKILL when it has not exited within `grace`; reaps it.
void StopProcess(pid_t pid, int sig, absl::Duration grace) {
  if (pid <= 0) return;
  kill(pid, sig);
  if (!WaitExit(pid, grace)) {
    kill(pid, SIGKILL);
    WaitExit(pid, absl::Seconds(10));
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<PrivateDockerd>> PrivateDockerd::Start(const std::string& source_dir) {
  auto daemon = std::unique_ptr<PrivateDockerd>(new PrivateDockerd());
  // Short and under /tmp: containerd's and dockerd's sockets live in it (a unix socket path has
  // at most 107 bytes).
  char tmpl[] = "/tmp/wake-dockerd.XXXXXX";
  if (mkdtemp(tmpl) == nullptr) return absl::InternalError("mkdtemp failed");
  daemon->dir_ = tmpl;
  daemon->socket_ = daemon->dir_ + "/docker.sock";
  if (Find("dockerd").empty() || Find("containerd").empty() || Find("unshare").empty()) {
    return absl::FailedPreconditionError(
        "dockerd, containerd or unshare is not installed (scripts/services/docker.sh; util-linux)");
  }
  if (absl::Status s = daemon->StartContainerd(); !s.ok()) return s;
  if (absl::Status s = daemon->StartDockerd(); !s.ok()) return s;
  const std::string import_log = daemon->dir_ + "/import.log";
  const std::string command =
      absl::StrCat("WAKE_DOCKER_SOCKET='", daemon->socket_, "' WAKE_DOCKERD_LOG='", daemon->dir_,
                   "/docker-sh.log' bash '", source_dir, "/scripts/services/docker.sh' >'", import_log, "' 2>&1");
  if (std::system(command.c_str()) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("importing the test image into the private dockerd failed: ", Tail(Slurp(import_log))));
  }
  return daemon;
}

absl::Status PrivateDockerd::StartContainerd() {
  const std::string config = dir_ + "/containerd.toml";
  {
    std::ofstream out(config);
    out << "version = 2\n"
        << "root = \"" << dir_ << "/containerd-root\"\n"
        << "state = \"" << dir_ << "/containerd-state\"\n"
        << "disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n"
        << "[grpc]\n  address = \"" << dir_ << "/containerd.sock\"\n"
        << "[debug]\n  level = \"warn\"\n";
  }
  containerd_ = Spawn({Find("containerd"), "--config", config}, dir_ + "/containerd.out", dir_ + "/containerd.log");
  if (containerd_ < 0) return absl::InternalError("fork failed");
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (!std::filesystem::exists(dir_ + "/containerd.sock")) {
    if (WaitExit(containerd_, absl::ZeroDuration()) || absl::Now() > deadline) {
      StopProcess(containerd_, SIGKILL, absl::Seconds(1));
      containerd_ = -1;
      return absl::UnavailableError(absl::StrCat("containerd did not start: ", Tail(Slurp(dir_ + "/containerd.log"))));
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  return absl::OkStatus();
}

absl::Status PrivateDockerd::StartDockerd() {
  if (dockerd_ > 0) return absl::FailedPreconditionError("dockerd is running");
  // A config file of its own: the machine's /etc/docker/daemon.json (hosts, bridge, ...) must not apply.
  std::ofstream(dir_ + "/daemon.json") << "{}\n";
  // In a network namespace of its own: a dockerd started with --bridge none deletes the host's
  // docker0 interface (the machine's dockerd's default bridge, which networked hands need), and
  // its other network settings (ip_forward, iptables) are per namespace too.
  dockerd_ = Spawn({Find("unshare"), "--net", "--", Find("dockerd"), "--config-file", dir_ + "/daemon.json",
                    "--host", "unix://" + socket_, "--containerd", dir_ + "/containerd.sock",
                    "--data-root", dir_ + "/root", "--exec-root", dir_ + "/exec", "--pidfile", dir_ + "/dockerd.pid",
                    "--bridge", "none", "--iptables=false", "--ip6tables=false"},
                   dir_ + "/dockerd.out", dir_ + "/dockerd.log");
  if (dockerd_ < 0) return absl::InternalError("fork failed");
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (Call("GET", "/_ping").first != 200) {
    if (std::optional<int> status = WaitExit(dockerd_, absl::ZeroDuration())) {
      dockerd_ = -1;
      return absl::UnavailableError(
          absl::StrCat("dockerd exited at start (status ", *status, "): ", Tail(Slurp(dir_ + "/dockerd.log"))));
    }
    if (absl::Now() > deadline) {
      StopProcess(dockerd_, SIGKILL, absl::Seconds(1));
      dockerd_ = -1;
      return absl::UnavailableError(absl::StrCat("dockerd did not answer: ", Tail(Slurp(dir_ + "/dockerd.log"))));
    }
    absl::SleepFor(absl::Milliseconds(50));
  }
  return absl::OkStatus();
}

void PrivateDockerd::KillDockerd() {
  if (dockerd_ <= 0) return;
  kill(dockerd_, SIGKILL);
  WaitExit(dockerd_, absl::Seconds(30));
  dockerd_ = -1;
}

absl::Status PrivateDockerd::StopDockerd() {
  if (dockerd_ <= 0) return absl::OkStatus();
  kill(dockerd_, SIGTERM);
  std::optional<int> status = WaitExit(dockerd_, absl::Seconds(60));
  if (!status) {
    kill(dockerd_, SIGKILL);
    WaitExit(dockerd_, absl::Seconds(10));
  }
  dockerd_ = -1;
  if (!status) return absl::DeadlineExceededError("dockerd did not stop within 60 s of SIGTERM");
  return absl::OkStatus();
}

std::pair<long, std::string> PrivateDockerd::Call(const std::string& method, const std::string& target,
                                                  const std::string& body) const {
  std::pair<long, std::string> out{0, ""};
  CURL* curl = curl_easy_init();
  if (curl == nullptr) return out;
  const std::string url = "http://docker/v1.41" + target;
  curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/json");
  curl_easy_setopt(curl, CURLOPT_UNIX_SOCKET_PATH, socket_.c_str());
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  if (!body.empty()) {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  }
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, 60L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, AppendBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &out.second);
  if (curl_easy_perform(curl) == CURLE_OK) curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &out.first);
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  return out;
}

void PrivateDockerd::RemoveContainers() {
  auto [status, body] = Call("GET", "/containers/json?all=true");
  if (status != 200) return;
  simdjson::dom::parser parser;
  simdjson::dom::array list;
  if (parser.parse(body).get(list)) return;
  for (simdjson::dom::element c : list) {
    std::string_view id;
    if (!c["Id"].get_string().get(id)) Call("DELETE", "/containers/" + std::string(id) + "?force=true&v=true");
  }
}

PrivateDockerd::~PrivateDockerd() {
  if (dir_.empty()) return;
  if (containerd_ > 0) {
    // Containers go through dockerd (it keeps their state): start it again if a test left it down.
    if (dockerd_ <= 0) StartDockerd().IgnoreError();
    RemoveContainers();
  }
  StopDockerd().IgnoreError();
  StopProcess(containerd_, SIGTERM, absl::Seconds(30));
  // Shims of containers that could not be removed: they name our containerd's socket.
  const std::string address = dir_ + "/containerd.sock";
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
    const std::string pid = entry.path().filename().string();
    if (pid.find_first_not_of("0123456789") != std::string::npos) continue;
    std::string cmdline = Slurp(entry.path().string() + "/cmdline");
    std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
    if (absl::StrContains(cmdline, "containerd-shim") && absl::StrContains(cmdline, address)) {
      kill(std::stoi(pid), SIGKILL);
    }
  }
  // dockerd leaves its data root bind-mounted on itself (and overlay mounts if it died): deepest first.
  std::vector<std::string> mounts;
  {
    std::ifstream in("/proc/self/mountinfo");
    for (std::string line; std::getline(in, line);) {
      std::istringstream fields(line);
      std::string id, parent, device, root, point;
      fields >> id >> parent >> device >> root >> point;
      if (absl::StartsWith(point, dir_ + "/")) mounts.push_back(point);
    }
  }
  std::sort(mounts.begin(), mounts.end(), [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
  for (const std::string& point : mounts) umount2(point.c_str(), MNT_DETACH);
  std::filesystem::remove_all(dir_, ec);
  if (ec) std::fprintf(stderr, "private dockerd: could not remove %s: %s\n", dir_.c_str(), ec.message().c_str());
}

}  // namespace wake::testing
