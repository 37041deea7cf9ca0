// The file tools' input decoding and path confinement on a real local hand: whatever JSON a model
// sends to read, write, edit, glob or grep, nothing outside the hand's work dir is read or written,
// through `..`, absolute paths or symlinks planted in the work dir that point out of it. (bash is
// left out: it runs any command by design; isolation is the hand's namespaces, not the toolset.)
//
// The first byte picks the tool; the rest is its input JSON.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "fuzz/fuzz_util.h"
#include "sandbox/local/local_hand.h"
#include "sandbox/toolset.h"

namespace {

namespace fs = std::filesystem;

constexpr char kSecret[] = "SECRET-OUTSIDE-THE-WORK-DIR";

struct World {
  std::string root;     // holds outside/ and hands/
  std::string outside;  // a dir beside the hands: never to be read or changed
  std::unique_ptr<wake::HandProvider> provider;
  std::unique_ptr<wake::Hand> hand;
  std::string work_dir;
};

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

World* MakeWorld() {
  auto* w = new World;
  w->root = (fs::temp_directory_path() / absl::StrCat("wake-fuzz-tools-", getpid())).string();
  fs::remove_all(w->root);
  w->outside = w->root + "/outside";
  fs::create_directories(w->outside);
  std::ofstream(w->outside + "/secret") << kSecret;
  fs::create_directories(w->outside + "/sub");
  std::ofstream(w->outside + "/sub/" + kSecret + ".txt") << kSecret;  // its name is a secret too
  auto provider = wake::NewLocalProvider({.base_dir = w->root + "/hands", .isolate = false});
  FUZZ_CHECK(provider.ok(), "a local provider opens");
  w->provider = *std::move(provider);
  auto hand = w->provider->Provision("sess_fuzz", wake::HandResources{});
  FUZZ_CHECK(hand.ok(), "a local hand provisions");
  w->hand = *std::move(hand);
  w->work_dir = w->root + "/hands/sess_fuzz";
  FUZZ_CHECK(fs::is_directory(w->work_dir), "the work dir is where the provider puts it");
  return w;
}

// Each input starts from the same work dir, so that no input reads what an earlier one wrote there
// (a write of the secret, then a read of it, is no escape). Ways out a model might find or make:
// links to the outside dir and its file, relative and absolute, at the top and deeper down.
void ResetWorkDir(const World& w) {
  for (const auto& e : fs::directory_iterator(w.work_dir)) fs::remove_all(e.path());
  fs::create_directories(w.work_dir + "/dir/sub");
  std::ofstream(w.work_dir + "/dir/inside.txt") << "inside\n";
  fs::create_directory_symlink("../../outside", w.work_dir + "/escape");
  fs::create_symlink(w.outside + "/secret", w.work_dir + "/abs_link");
  fs::create_directory_symlink("../../../outside", w.work_dir + "/dir/deep_escape");
}

World& TheWorld() {
  static World* world = MakeWorld();
  return *world;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  static const char* kTools[] = {"read", "write", "edit", "glob", "grep"};
  World& w = TheWorld();
  ResetWorkDir(w);
  wake::ToolCall call;
  call.name = kTools[data[0] % 5];
  call.input_json.assign(reinterpret_cast<const char*>(data) + 1, size - 1);
  wake::ToolsetOptions options;
  options.max_glob_results = 100;
  absl::StatusOr<wake::ToolResult> result = wake::RunTool(*w.hand, call, nullptr, options);
  FUZZ_CHECK(result.ok(), "a live hand runs every call (bad input is a tool error, not a failure)");
  // A result may echo the input (an error names the path it refused), so the secret counts as read
  // only when the input did not carry it. libFuzzer learns the secret from this very comparison and
  // puts it into inputs, which is how the first version of this check failed on an error message.
  if (!absl::StrContains(call.input_json, kSecret)) {
    for (const wake::ContentBlock& block : result->content) {
      FUZZ_CHECK(!absl::StrContains(block.text, kSecret), "nothing outside the work dir is read");
    }
  }
  // Nothing outside was written: the outside dir holds its file and dir, unchanged, and the root holds
  // only outside/ and hands/.
  size_t entries = 0;
  for (const auto& e : fs::directory_iterator(w.outside)) {
    (void)e;
    ++entries;
  }
  FUZZ_CHECK(entries == 2 && Slurp(w.outside + "/secret") == kSecret, "nothing outside the work dir is written");
  entries = 0;
  for (const auto& e : fs::directory_iterator(w.root)) {
    (void)e;
    ++entries;
  }
  FUZZ_CHECK(entries == 2, "nothing is created beside the work dir");
  return 0;
}
