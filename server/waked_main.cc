// waked: the wake server. Opens an Engine on a data dir and serves the Managed Agents session API
// over HTTP/SSE (server/server.h) until SIGINT or SIGTERM, then stops the server and shuts the engine
// down gracefully (running turns reach a safe point; sessions left running resume on the next start).
//
// Hands: local ones (a work dir per session under <data>/hands) always; docker ones too when the
// Docker daemon answers on its socket (image --docker-image, which must already be on the daemon).
//
// API keys: every request needs a key of <data>/api_keys, which `wakectl --data DIR keys create`
// makes (and `keys revoke` revokes) while waked runs; waked sees a change on the next request
// (storage/api_key_store.h). --no-auth serves without keys, for a trusted loopback only.
//
// usage: waked [--data DIR] [--host HOST] [--port N] [--workers N] [--replay-cache-mb N] [--io-threads N]
//              [--blocking-threads N] [--max-body-bytes N] [--max-streams N] [--write-timeout SECONDS]
//              [--default-backend NAME] [--no-auth]
//              [--docker-socket PATH] [--docker-image IMAGE] [--no-docker]
//              [--hand-agent PATH | --no-hand-agent] [--warm-hands BACKEND=N ...]
//              [--delegate URL [--delegate-agent ID | --delegate-model NAME [--delegate-system TEXT]]
//                              [--delegate-environment ID]]
//
// --replay-cache-mb N is the memory that keeps recently woken sessions' events between wakes, so the
// next wake of one reads only what was appended since (EngineOptions::replay_cache_bytes; default 256,
// 0 = replay the whole log every wake); /metrics shows wake_replay_cache_bytes.
//
// --max-streams N caps the event streams open at once (429 past it; ServerOptions::max_sse_subscribers);
// --write-timeout SECONDS is how long one response or one write of stream frames may wait for a client
// that does not read before it is dropped (ServerOptions::write_timeout). waked raises its open-file
// soft limit to the hard limit at start: every connection and stream takes a descriptor.
//
// --warm-hands docker=4 keeps 4 provisioned docker hands ready for sessions' first tool calls
// (sandbox/hand_pool.h); /metrics shows wake_hand_spares_ready{backend} against
// wake_hand_spares_target{backend}.
//
// --delegate URL serves the `delegate` tool to every agent with the standard toolset: its tasks run
// as turns of a remote Managed Agents session (sandbox/managed_agents/managed_agents_hand.h) at URL
// (https://api.anthropic.com, or another waked), one remote session per wake session, archived when
// the wake session is archived or deleted. The remote agent is --delegate-agent ID, or one created
// from --delegate-model and --delegate-system; the environment is --delegate-environment ID or a
// new cloud one. The API key comes from the environment (WAKE_DELEGATE_API_KEY, else
// ANTHROPIC_API_KEY), never from the command line, where `ps` would show it.

#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "engine/engine.h"
#include "server/server.h"
#include "storage/api_key_store.h"
#if defined(WAKE_WITH_LOCAL_HAND)
#include "sandbox/local/local_hand.h"
#endif
#if defined(WAKE_WITH_DOCKER_HAND)
#include "sandbox/docker/docker_hand.h"
#endif
#if defined(WAKE_WITH_MANAGED_AGENTS_HAND)
#include "sandbox/managed_agents/managed_agents_hand.h"
#endif

namespace {

constexpr char kUsage[] =
    "usage: waked [--data DIR] [--host HOST] [--port N] [--workers N] [--replay-cache-mb N] [--io-threads N]\n"
    "             [--blocking-threads N] [--max-body-bytes N] [--max-streams N] [--write-timeout SECONDS]\n"
    "             [--default-backend NAME] [--no-auth]\n"
    "             [--docker-socket PATH] [--docker-image IMAGE] [--no-docker]\n"
    "             [--hand-agent PATH | --no-hand-agent] [--warm-hands BACKEND=N ...]\n"
    "             [--delegate URL [--delegate-agent ID | --delegate-model NAME [--delegate-system TEXT]]\n"
    "                             [--delegate-environment ID]]   (key: WAKE_DELEGATE_API_KEY or ANTHROPIC_API_KEY)\n"
    "API keys: `wakectl --data DIR keys create` (see `wakectl help`)\n";

int Fail(const std::string& what, const absl::Status& status) {
  std::fprintf(stderr, "waked: %s: %s\n", what.c_str(), std::string(status.message()).c_str());
  return 1;
}

struct Flags {
  std::string data_dir = "data";
  std::string default_backend = "local";
  wake::ServerOptions server;
  size_t workers = 8;
  size_t replay_cache_mb = wake::EngineOptions{}.replay_cache_bytes >> 20;
  std::string docker_socket = "/var/run/docker.sock";
  // The image scripts/services/docker.sh imports for the tests; a deployment names its own.
  std::string docker_image = "wake-test-busybox:latest";
  bool docker = true;
  // The hand agent docker hands run their tools through (sandbox/agent); "" = look for it, "-" = none.
  std::string hand_agent;
  std::map<std::string, size_t> warm_hands;  // by backend: spares the warm pool keeps
  // --delegate: the Managed Agents endpoint the `delegate` tool sends tasks to ("" = no such tool).
  std::string delegate_url;
  std::string delegate_agent;
  std::string delegate_model;
  std::string delegate_system;
  std::string delegate_environment;
};

// The hand agent to copy into docker hands: the one named, else wake_hand_agent beside this program
// (an installed layout), else the one this build made. "" when there is none: then each tool call is an
// exec of its own (about 50 ms instead of about 1 ms).
std::string FindHandAgent(const std::string& named) {
  if (named == "-") return "";
  if (!named.empty()) return named;
  std::error_code ec;
  const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    const std::filesystem::path beside = self.parent_path() / "wake_hand_agent";
    if (std::filesystem::exists(beside, ec)) return beside.string();
  }
#if defined(WAKE_BUILT_HAND_AGENT)
  if (std::filesystem::exists(WAKE_BUILT_HAND_AGENT, ec)) return WAKE_BUILT_HAND_AGENT;
#endif
  return "";
}

bool ParseSize(const char* text, size_t* out) {
  uint64_t n = 0;
  if (!absl::SimpleAtoi(text, &n)) return false;
  *out = static_cast<size_t>(n);
  return true;
}

// Whether a Docker daemon answers GET /_ping on `socket_path` (within two seconds).
bool DockerAnswers(const std::string& socket_path) {
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (socket_path.size() >= sizeof(address.sun_path)) {
    close(fd);
    return false;
  }
  std::memcpy(address.sun_path, socket_path.c_str(), socket_path.size() + 1);
  timeval timeout{2, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
  bool ok = false;
  if (connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) == 0) {
    static constexpr char kPing[] = "GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n";
    if (write(fd, kPing, sizeof(kPing) - 1) == static_cast<ssize_t>(sizeof(kPing) - 1)) {
      char reply[64] = {};
      const ssize_t n = read(fd, reply, sizeof(reply) - 1);
      ok = n > 12 && std::strncmp(reply, "HTTP/1.", 7) == 0 && std::strncmp(reply + 9, "200", 3) == 0;
    }
  }
  close(fd);
  return ok;
}

// Every event stream and every connection is a file descriptor, and RocksDB keeps its files open:
// a soft limit of 1024 (a common default) would refuse the 1,000th subscriber. The hard limit is the
// ceiling the operator set; waked takes all of it and says so when it is still small.
void RaiseOpenFileLimit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return;
  if (limit.rlim_cur < limit.rlim_max) {
    rlimit raised = limit;
    raised.rlim_cur = limit.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) limit = raised;
  }
  if (limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur < 4096) {
    std::fprintf(stderr, "waked: the open-file limit is %llu (hard limit); each connection and event stream "
                 "takes one, so fewer than that can be served at once (raise it with ulimit -Hn)\n",
                 static_cast<unsigned long long>(limit.rlim_cur));
  }
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags;
  flags.server.port = 8080;
  flags.server.require_api_key = true;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const char* value = i + 1 < argc ? argv[i + 1] : nullptr;
    auto size_flag = [&](size_t* out) {
      if (value == nullptr || !ParseSize(value, out)) return false;
      ++i;
      return true;
    };
    size_t n = 0;
    bool ok = true;
    if (arg == "--data" && value != nullptr) {
      flags.data_dir = argv[++i];
    } else if (arg == "--host" && value != nullptr) {
      flags.server.host = argv[++i];
    } else if (arg == "--port") {
      ok = size_flag(&n) && n <= 65535;
      flags.server.port = static_cast<uint16_t>(n);
    } else if (arg == "--workers") {
      ok = size_flag(&flags.workers) && flags.workers > 0;
    } else if (arg == "--replay-cache-mb") {
      ok = size_flag(&flags.replay_cache_mb) && flags.replay_cache_mb <= (size_t{1} << 24);
    } else if (arg == "--io-threads") {
      ok = size_flag(&flags.server.io_threads) && flags.server.io_threads > 0;
    } else if (arg == "--blocking-threads") {
      ok = size_flag(&flags.server.blocking_threads) && flags.server.blocking_threads > 0;
    } else if (arg == "--max-body-bytes") {
      ok = size_flag(&flags.server.max_body_bytes) && flags.server.max_body_bytes > 0;
    } else if (arg == "--max-streams") {
      ok = size_flag(&flags.server.max_sse_subscribers) && flags.server.max_sse_subscribers > 0;
    } else if (arg == "--write-timeout") {
      ok = size_flag(&n) && n > 0;
      flags.server.write_timeout = absl::Seconds(n);
    } else if (arg == "--default-backend" && value != nullptr) {
      flags.default_backend = argv[++i];
    } else if (arg == "--no-auth") {
      flags.server.require_api_key = false;
    } else if (arg == "--docker-socket" && value != nullptr) {
      flags.docker_socket = argv[++i];
    } else if (arg == "--docker-image" && value != nullptr) {
      flags.docker_image = argv[++i];
    } else if (arg == "--no-docker") {
      flags.docker = false;
    } else if (arg == "--hand-agent" && value != nullptr) {
      flags.hand_agent = argv[++i];
    } else if (arg == "--no-hand-agent") {
      flags.hand_agent = "-";
    } else if (arg == "--delegate" && value != nullptr) {
      flags.delegate_url = argv[++i];
    } else if (arg == "--delegate-agent" && value != nullptr) {
      flags.delegate_agent = argv[++i];
    } else if (arg == "--delegate-model" && value != nullptr) {
      flags.delegate_model = argv[++i];
    } else if (arg == "--delegate-system" && value != nullptr) {
      flags.delegate_system = argv[++i];
    } else if (arg == "--delegate-environment" && value != nullptr) {
      flags.delegate_environment = argv[++i];
    } else if (arg == "--warm-hands" && value != nullptr) {
      const std::string spec = argv[++i];
      const size_t eq = spec.find('=');
      ok = eq != std::string::npos && eq > 0 && ParseSize(spec.substr(eq + 1).c_str(), &n) && n > 0;
      if (ok) flags.warm_hands[spec.substr(0, eq)] = n;
    } else {
      ok = false;
    }
    if (!ok) {
      std::fprintf(stderr, "waked: bad argument %s\n%s", arg.c_str(), kUsage);
      return 2;
    }
  }

  // Every thread the engine and the server start inherits this mask, so the signals reach sigwait.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);
  RaiseOpenFileLimit();

  std::error_code ec;
  std::filesystem::create_directories(flags.data_dir, ec);
  const std::string data_dir = std::filesystem::absolute(flags.data_dir, ec).string();

  wake::EngineOptions options;
  options.data_dir = data_dir;
  options.workers = flags.workers;
  options.replay_cache_bytes = flags.replay_cache_mb << 20;
  options.default_backend = flags.default_backend;
  options.warm_hands = flags.warm_hands;  // a backend without a provider: Engine::Open says so
  // The same worker id on every start: the RocksDB lock already makes this process the data dir's only
  // writer, so a lease held under this id can only be a dead predecessor's, and the sessions it was
  // running are taken over at once after a crash instead of after the lease's ttl.
  char hostname[256] = {};
  gethostname(hostname, sizeof(hostname) - 1);
  options.harness.worker_id = absl::StrCat("waked@", hostname);
  std::vector<std::unique_ptr<wake::HandProvider>> providers;
#if defined(WAKE_WITH_LOCAL_HAND)
  {
    wake::LocalProviderOptions local;
    local.base_dir = data_dir + "/hands";
    auto provider = wake::NewLocalProvider(local);
    if (!provider.ok()) return Fail("opening local hands", provider.status());
    options.hand_providers["local"] = provider->get();
    providers.push_back(*std::move(provider));
  }
#endif
#if defined(WAKE_WITH_DOCKER_HAND)
  if (flags.docker && DockerAnswers(flags.docker_socket)) {
    wake::DockerProviderOptions docker;
    docker.socket_path = flags.docker_socket;
    docker.image = flags.docker_image;
    // Scopes reattaching and reaping to this data dir's hands on a shared daemon.
    docker.labels = {{"wake.data", data_dir}};
    docker.agent_path = FindHandAgent(flags.hand_agent);
    if (!flags.hand_agent.empty() && flags.hand_agent != "-" && !std::filesystem::exists(docker.agent_path)) {
      return Fail("starting", absl::NotFoundError(absl::StrCat("no hand agent at ", docker.agent_path)));
    }
    auto provider = wake::NewDockerProvider(docker);
    if (!provider.ok()) return Fail("opening docker hands", provider.status());
    options.hand_providers["docker"] = provider->get();
    providers.push_back(*std::move(provider));
    std::fprintf(stderr, "waked: docker hands on %s (image %s, %s)\n", flags.docker_socket.c_str(),
                 flags.docker_image.c_str(),
                 docker.agent_path.empty() ? "no hand agent: an exec per tool call"
                                           : absl::StrCat("hand agent ", docker.agent_path).c_str());
  }
#endif
  if (options.hand_providers.empty()) {
    return Fail("starting", absl::FailedPreconditionError("this build of waked has no hand backend"));
  }
  const bool delegate_flags = !flags.delegate_agent.empty() || !flags.delegate_model.empty() ||
                              !flags.delegate_system.empty() || !flags.delegate_environment.empty();
  if (flags.delegate_url.empty() && delegate_flags) {
    return Fail("starting", absl::InvalidArgumentError("the --delegate-* flags need --delegate URL"));
  }
#if defined(WAKE_WITH_MANAGED_AGENTS_HAND)
  // The delegate's key lives in a vault of its own: the hand reads it per call and masks it out of
  // every result.
  wake::Vault delegate_vault;
  std::unique_ptr<wake::ManagedAgentsHands> delegate;
  if (!flags.delegate_url.empty()) {
    const char* key = std::getenv("WAKE_DELEGATE_API_KEY");
    if (key == nullptr || *key == '\0') key = std::getenv("ANTHROPIC_API_KEY");
    if (key == nullptr || *key == '\0') {
      return Fail("starting", absl::InvalidArgumentError(
                                  "--delegate needs the endpoint's API key in WAKE_DELEGATE_API_KEY or ANTHROPIC_API_KEY"));
    }
    if (absl::Status s = delegate_vault.Put("DELEGATE_API_KEY", key); !s.ok()) return Fail("--delegate", s);
    wake::ManagedAgentsHandOptions delegate_options;
    delegate_options.base_url = flags.delegate_url;
    delegate_options.vault = &delegate_vault;
    delegate_options.api_key_secret = "DELEGATE_API_KEY";
    delegate_options.agent_id = flags.delegate_agent;
    if (!flags.delegate_model.empty()) delegate_options.model = flags.delegate_model;
    delegate_options.system = flags.delegate_system;
    delegate_options.environment_id = flags.delegate_environment;
    auto made = wake::ManagedAgentsHands::Create(delegate_options);
    if (!made.ok()) return Fail("--delegate", made.status());
    delegate = *std::move(made);
    options.served_tools.push_back({delegate->tool(), delegate.get()});
    std::fprintf(stderr, "waked: the %s tool delegates tasks to %s\n", delegate->tool().name.c_str(),
                 flags.delegate_url.c_str());
  }
#else
  if (!flags.delegate_url.empty()) {
    return Fail("starting", absl::FailedPreconditionError("this build of waked has no managed-agents hand"));
  }
#endif

  wake::ApiKeyStoreOptions key_options;
  key_options.data_dir = data_dir;
  wake::ApiKeyStore api_keys(key_options);
  if (flags.server.require_api_key) {
    // A corrupt key file would refuse every request: say so now rather than per request.
    absl::StatusOr<std::vector<wake::ApiKeyRecord>> keys = api_keys.List();
    if (!keys.ok()) return Fail("reading API keys", keys.status());
    if (std::none_of(keys->begin(), keys->end(), [](const wake::ApiKeyRecord& k) { return !k.revoked_at; })) {
      std::fprintf(stderr,
                   "waked: no API key in %s yet: every request gets 401 until you create one with\n"
                   "waked:   wakectl --data %s keys create --name NAME\n",
                   api_keys.path().c_str(), data_dir.c_str());
    }
    flags.server.api_keys = &api_keys;
  }

  auto engine = wake::Engine::Open(options);
  if (!engine.ok()) return Fail("opening the engine", engine.status());
  auto server = wake::StartServer(engine->get(), flags.server);
  if (!server.ok()) return Fail("starting the server", server.status());

  const std::string host = flags.server.host.find(':') != std::string::npos ? absl::StrCat("[", flags.server.host, "]")
                                                                             : flags.server.host;
  if (!flags.server.require_api_key) {
    std::fprintf(stderr, "waked: warning: --no-auth: no API key is asked for; anyone who reaches http://%s:%u can use "
                 "every agent and session\n", host.c_str(), static_cast<unsigned>((*server)->port()));
  }
  std::printf("waked: listening on http://%s:%u (data %s)\n", host.c_str(), static_cast<unsigned>((*server)->port()),
              data_dir.c_str());
  std::fflush(stdout);

  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  std::fprintf(stderr, "waked: %s: stopping\n", strsignal(signal_number));
  (*server)->Stop();
  (*engine)->Shutdown();
  server->reset();
  engine->reset();
  std::fprintf(stderr, "waked: stopped\n");
  return 0;
}
