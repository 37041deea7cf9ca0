// The conformance suite every hand backend passes (see hand_conformance.h): the toolset's happy and
// error paths over a real provisioned hand, the primitives' edge cases, and the hand's lifecycle.

#include "tests/sandbox/hand_conformance.h"

#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "sandbox/toolset.h"
#include "schemas/event_json.h"
#include "schemas/ids.h"

namespace wake::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

std::string TextOf(const ToolResult& result) {
  std::string text;
  for (const ContentBlock& block : result.content) text += block.text;
  return text;
}

// A string whose every byte is valid UTF-8 (what JSON events can carry).
bool IsValidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    for (size_t k = 1; k < n; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
    }
    i += n;
  }
  return true;
}

}  // namespace

void HandConformanceTest::SetUp() {
  absl::StatusOr<std::unique_ptr<HandProvider>> provider = GetParam()->make_provider();
  ASSERT_TRUE(provider.ok()) << provider.status();
  provider_ = *std::move(provider);
  session_id_ = NewSessionId(absl::Now());
  absl::StatusOr<std::unique_ptr<Hand>> hand = provider_->Provision(session_id_, HandResources{});
  ASSERT_TRUE(hand.ok()) << hand.status();
  hand_ = *std::move(hand);
}

void HandConformanceTest::TearDown() {
  if (hand_ != nullptr) {
    EXPECT_TRUE(hand_->Release().ok());
  }
}

ToolResult HandConformanceTest::Tool(std::string_view name, std::string_view input_json, const CancelToken* cancel) {
  ToolCall call{std::string(name), std::string(input_json), absl::StrCat("key-", ++calls_)};
  absl::StatusOr<ToolResult> result = RunTool(*hand_, call, cancel, options_);
  EXPECT_TRUE(result.ok()) << name << " " << input_json << ": " << result.status();
  return result.ok() ? *std::move(result) : ToolResult{};
}

std::string HandConformanceTest::Sh(std::string_view command) {
  std::string input = R"({"command":)";
  AppendJsonString(input, command);
  input += "}";
  ToolResult result = Tool("bash", input);
  EXPECT_FALSE(result.is_error) << command << ": " << TextOf(result);
  return TextOf(result);
}

namespace {

TEST_P(HandConformanceTest, BashRunsInTheWorkDir) {
  ToolResult result = Tool("bash", R"({"command":"echo hello; pwd"})");
  EXPECT_FALSE(result.is_error);
  EXPECT_EQ(TextOf(result), absl::StrCat("hello\n", hand_->work_dir(), "\n"));
}

TEST_P(HandConformanceTest, BashNonZeroExitIsAnErrorWithStderrAndTheCode) {
  ToolResult result = Tool("bash", R"({"command":"echo out; echo oops >&2; exit 3"})");
  EXPECT_TRUE(result.is_error);
  EXPECT_THAT(TextOf(result), HasSubstr("out\n"));
  EXPECT_THAT(TextOf(result), HasSubstr("oops"));
  EXPECT_THAT(TextOf(result), HasSubstr("Exit code 3."));
}

TEST_P(HandConformanceTest, BashSeesTheToolsetEnvironment) {
  options_.env = {{"WAKE_CONFORMANCE", "visible value"}};
  EXPECT_EQ(Sh("echo $WAKE_CONFORMANCE"), "visible value\n");
}

TEST_P(HandConformanceTest, BashTimeoutKillsTheWholeProcessTree) {
  // A grandchild in the background records its pid, then everything sleeps past the timeout.
  ToolResult result =
      Tool("bash", R"({"command":"sh -c 'echo $$ > grandchild.pid; exec sleep 60' & sleep 60","timeout_ms":500})");
  EXPECT_TRUE(result.is_error);
  EXPECT_THAT(TextOf(result), HasSubstr("timed out"));
  // The grandchild is gone (or a zombie nobody reaps) within a bounded wait.
  ToolResult check = Tool(
      "bash",
      R"({"command":"pid=$(cat grandchild.pid); for i in $(seq 1 100); do if [ ! -e /proc/$pid ] || grep -q '^[0-9]* ([^)]*) Z' /proc/$pid/stat; then echo gone; exit 0; fi; sleep 0.05; done; echo alive; exit 1"})");
  EXPECT_EQ(TextOf(check), "gone\n");
}

TEST_P(HandConformanceTest, BashOutputIsCapped) {
  options_.output_cap = 10000;
  ToolResult result = Tool("bash", R"({"command":"head -c 300000 /dev/zero | tr '\\000' a"})");
  EXPECT_FALSE(result.is_error);
  const std::string text = TextOf(result);
  EXPECT_THAT(text, HasSubstr("[output truncated"));
  EXPECT_LT(text.size(), 11000u);
  EXPECT_EQ(text.substr(0, 10000), std::string(10000, 'a'));
}

TEST_P(HandConformanceTest, BinaryOutputBecomesValidUtf8) {
  ToolResult result = Tool("bash", R"({"command":"printf 'a\\000b\\377c\\n'"})");
  EXPECT_FALSE(result.is_error);
  const std::string text = TextOf(result);
  EXPECT_TRUE(IsValidUtf8(text)) << text;
  EXPECT_THAT(text, HasSubstr("a"));
  EXPECT_THAT(text, HasSubstr("c"));
}

TEST_P(HandConformanceTest, ConcurrentCallsOnOneHand) {
  constexpr int kThreads = 4;
  std::vector<std::string> outputs(kThreads);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      ToolCall call{"bash", absl::StrCat(R"({"command":"sleep 0.2; echo )", i, R"("})"), absl::StrCat("c", i)};
      absl::StatusOr<ToolResult> result = RunTool(*hand_, call, nullptr, options_);
      if (result.ok()) outputs[i] = TextOf(*result);
    });
  }
  for (std::thread& t : threads) t.join();
  for (int i = 0; i < kThreads; ++i) EXPECT_EQ(outputs[i], absl::StrCat(i, "\n"));
}

TEST_P(HandConformanceTest, CancelKillsARunningCommand) {
  CancelToken cancel;
  absl::StatusOr<ToolResult> result;
  std::thread runner([&] {
    ToolCall call{"bash", R"({"command":"touch started; sleep 60"})", "cancel-me"};
    result = RunTool(*hand_, call, &cancel, options_);
  });
  // Wait until the command is running, then cancel it.
  for (int i = 0; i < 600; ++i) {
    if (hand_->ReadFile("started", 16).ok()) break;
    absl::SleepFor(absl::Milliseconds(10));
  }
  cancel.Cancel();
  runner.join();
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_TRUE(result->is_error);
  EXPECT_THAT(TextOf(*result), HasSubstr("cancelled"));
}

TEST_P(HandConformanceTest, BashRestartSaysThereIsNoState) {
  ToolResult result = Tool("bash", R"({"restart":true})");
  EXPECT_FALSE(result.is_error);
  EXPECT_THAT(TextOf(result), HasSubstr("restarted"));
}

TEST_P(HandConformanceTest, WriteThenReadWithLineNumbersAndRanges) {
  ToolResult wrote = Tool("write", R"({"file_path":"dir/sub/notes.txt","content":"one\ntwo\nthree\n"})");
  EXPECT_FALSE(wrote.is_error) << TextOf(wrote);
  EXPECT_EQ(TextOf(Tool("read", R"({"file_path":"dir/sub/notes.txt"})")), "     1\tone\n     2\ttwo\n     3\tthree\n");
  EXPECT_EQ(TextOf(Tool("read", R"({"file_path":"dir/sub/notes.txt","view_range":[2,-1]})")),
            "     2\ttwo\n     3\tthree\n");
  const std::string absolute = absl::StrCat(hand_->work_dir(), "/dir/sub/notes.txt");
  EXPECT_EQ(TextOf(Tool("read", absl::StrCat(R"({"file_path":")", absolute, R"(","view_range":[1,1]})"))),
            "     1\tone\n");
  ToolResult beyond = Tool("read", R"({"file_path":"dir/sub/notes.txt","view_range":[2,9]})");
  EXPECT_TRUE(beyond.is_error);
  EXPECT_THAT(TextOf(beyond), HasSubstr("has 3 lines"));
}

TEST_P(HandConformanceTest, ReadErrorsAreToolErrors) {
  ToolResult missing = Tool("read", R"({"file_path":"no/such/file"})");
  EXPECT_TRUE(missing.is_error);
  EXPECT_THAT(TextOf(missing), HasSubstr("does not exist"));

  Sh("mkdir -p adir");
  ToolResult dir = Tool("read", R"({"file_path":"adir"})");
  EXPECT_TRUE(dir.is_error);
  EXPECT_THAT(TextOf(dir), HasSubstr("not a regular file"));

  Sh("printf 'a\\000b' > bin.dat");
  ToolResult binary = Tool("read", R"({"file_path":"bin.dat"})");
  EXPECT_TRUE(binary.is_error);
  EXPECT_THAT(TextOf(binary), HasSubstr("binary"));
}

TEST_P(HandConformanceTest, PathsOutsideTheWorkDirAreRefused) {
  for (const char* input : {R"({"file_path":"/etc/passwd"})", R"({"file_path":"../../../../etc/passwd"})",
                            R"({"file_path":"a/../../outside"})"}) {
    ToolResult result = Tool("read", input);
    EXPECT_TRUE(result.is_error) << input;
    EXPECT_THAT(TextOf(result), HasSubstr("outside the work dir")) << input;
  }
  ToolResult write = Tool("write", R"({"file_path":"../escape.txt","content":"x"})");
  EXPECT_TRUE(write.is_error);
  ToolResult grep = Tool("grep", R"({"pattern":"root","path":"/etc"})");
  EXPECT_TRUE(grep.is_error);
}

// Found by fuzz/tool_input_fuzz: grep and find follow a symlink they are given as their path, so
// a link planted in the work dir took them out of it.
TEST_P(HandConformanceTest, GrepAndGlobDoNotFollowASymlinkOutOfTheWorkDir) {
  // Outside: a dir beside the work dir with a file whose name and content are secret.
  Sh("mkdir -p ../outside-$$ && echo hidden-content > ../outside-$$/hidden-name.txt && "
     "ln -s \"$(cd ../outside-$$ && pwd)\" out && mkdir -p in && ln -s ../out in/deeper && ln -s in inner && "
     "echo inside-content > in/mine.txt");
  for (const char* path : {"out", "in/deeper", "inner/deeper"}) {
    const std::string grep = absl::StrCat(R"({"pattern":"hidden","path":")", path, R"("})");
    ToolResult g = Tool("grep", grep);
    EXPECT_TRUE(g.is_error) << path << ": " << TextOf(g);
    EXPECT_THAT(TextOf(g), Not(HasSubstr("hidden-content"))) << path;
    EXPECT_THAT(TextOf(g), HasSubstr("outside the work dir")) << path;
    ToolResult f = Tool("glob", absl::StrCat(R"({"pattern":"*","path":")", path, R"("})"));
    EXPECT_TRUE(f.is_error) << path << ": " << TextOf(f);
    EXPECT_THAT(TextOf(f), Not(HasSubstr("hidden-name"))) << path;
  }
  // A link that stays inside still works, and recursion does not follow the links inside.
  EXPECT_EQ(TextOf(Tool("grep", R"({"pattern":"content","path":"inner"})")), "inner/mine.txt:1:inside-content\n");
  EXPECT_THAT(TextOf(Tool("grep", R"({"pattern":"content"})")), Not(HasSubstr("hidden")));
  Sh("rm -rf \"$(readlink out)\" out inner in");
}

TEST_P(HandConformanceTest, EditReplacesExactlyOnceUnlessToldOtherwise) {
  Tool("write", R"({"file_path":"code.txt","content":"alpha beta\nbeta gamma\n"})");
  ToolResult missing = Tool("edit", R"({"file_path":"code.txt","old_string":"delta","new_string":"x"})");
  EXPECT_TRUE(missing.is_error);
  EXPECT_THAT(TextOf(missing), HasSubstr("not found"));
  ToolResult ambiguous = Tool("edit", R"({"file_path":"code.txt","old_string":"beta","new_string":"B"})");
  EXPECT_TRUE(ambiguous.is_error);
  EXPECT_THAT(TextOf(ambiguous), HasSubstr("occurs 2 times"));
  EXPECT_EQ(Sh("cat code.txt"), "alpha beta\nbeta gamma\n");  // nothing changed

  ToolResult once = Tool("edit", R"({"file_path":"code.txt","old_string":"alpha beta","new_string":"ALPHA"})");
  EXPECT_FALSE(once.is_error) << TextOf(once);
  ToolResult all = Tool("edit", R"({"file_path":"code.txt","old_string":"a","new_string":"4","replace_all":true})");
  EXPECT_FALSE(all.is_error) << TextOf(all);
  EXPECT_EQ(Sh("cat code.txt"), "ALPHA\nbet4 g4mm4\n");
  ToolResult absent = Tool("edit", R"({"file_path":"nope.txt","old_string":"a","new_string":"b"})");
  EXPECT_TRUE(absent.is_error);
}

TEST_P(HandConformanceTest, GlobMatchesAcrossDirectories) {
  Sh("mkdir -p src/lib docs && touch src/main.cc src/lib/util.cc src/lib/util.h docs/readme.md top.cc");
  EXPECT_EQ(TextOf(Tool("glob", R"({"pattern":"**/*.cc"})")), "src/lib/util.cc\nsrc/main.cc\ntop.cc\n");
  EXPECT_EQ(TextOf(Tool("glob", R"({"pattern":"*.cc"})")), "top.cc\n");
  EXPECT_EQ(TextOf(Tool("glob", R"({"pattern":"lib/util.[ch]","path":"src"})")), "src/lib/util.h\n");
  EXPECT_EQ(TextOf(Tool("glob", R"({"pattern":"lib/util.*","path":"src"})")), "src/lib/util.cc\nsrc/lib/util.h\n");
  ToolResult none = Tool("glob", R"({"pattern":"**/*.rs"})");
  EXPECT_FALSE(none.is_error);
  EXPECT_THAT(TextOf(none), HasSubstr("No files match"));
}

TEST_P(HandConformanceTest, GrepFindsLinesAndReportsNoMatch) {
  Sh("mkdir -p g && printf 'one\\nneedle here\\nthree\\n' > g/a.txt && printf 'no\\n' > g/b.txt");
  EXPECT_EQ(TextOf(Tool("grep", R"({"pattern":"need+le"})")), "g/a.txt:2:needle here\n");
  ToolResult none = Tool("grep", R"({"pattern":"haystack","path":"g"})");
  EXPECT_FALSE(none.is_error);
  EXPECT_THAT(TextOf(none), HasSubstr("No matches"));
  ToolResult bad = Tool("grep", R"({"pattern":"a(b"})");
  EXPECT_TRUE(bad.is_error);
}

TEST_P(HandConformanceTest, MalformedInputIsAToolErrorNamingTheField) {
  ToolResult not_json = Tool("bash", "not json");
  EXPECT_TRUE(not_json.is_error);
  EXPECT_THAT(TextOf(not_json), HasSubstr("not a JSON object"));
  ToolResult missing = Tool("write", R"({"file_path":"x"})");
  EXPECT_TRUE(missing.is_error);
  EXPECT_THAT(TextOf(missing), HasSubstr("\"content\""));
  ToolResult wrong_type = Tool("bash", R"({"command":42})");
  EXPECT_TRUE(wrong_type.is_error);
  EXPECT_THAT(TextOf(wrong_type), HasSubstr("must be a string"));
  ToolResult unknown = Tool("teleport", "{}");
  EXPECT_TRUE(unknown.is_error);
  EXPECT_THAT(TextOf(unknown), HasSubstr("unknown tool"));
}

TEST_P(HandConformanceTest, FilePrimitivesRoundTripLargeAndBinaryFiles) {
  std::string large(1 << 20, '\0');
  for (size_t i = 0; i < large.size(); ++i) large[i] = static_cast<char>((i * 131 + i / 7) & 0xFF);
  ASSERT_TRUE(hand_->WriteFile("big/one.bin", large).ok());
  absl::StatusOr<std::string> back = hand_->ReadFile("big/one.bin", 2 << 20);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_TRUE(*back == large);
  EXPECT_EQ(hand_->ReadFile("big/one.bin", 1000).status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(hand_->ReadFile("big/none.bin", 1000).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(hand_->ReadFile("big", 1000).status().code(), absl::StatusCode::kFailedPrecondition);
  // Replacing keeps nothing of the old content.
  ASSERT_TRUE(hand_->WriteFile("big/one.bin", "short").ok());
  EXPECT_EQ(hand_->ReadFile("big/one.bin", 100).value_or("?"), "short");
  ASSERT_TRUE(hand_->WriteFile("empty", "").ok());
  EXPECT_EQ(hand_->ReadFile("empty", 100).value_or("?"), "");
}

TEST_P(HandConformanceTest, RunPrimitiveReportsExitSignalStdinAndCwd) {
  RunRequest request;
  request.argv = {"cat"};
  request.stdin_data = "fed through stdin";
  absl::StatusOr<RunOutcome> cat = hand_->Run(request, nullptr);
  ASSERT_TRUE(cat.ok()) << cat.status();
  EXPECT_TRUE(cat->exited);
  EXPECT_EQ(cat->exit_code, 0);
  EXPECT_EQ(cat->stdout_data, "fed through stdin");

  ASSERT_TRUE(hand_->WriteFile("sub/dir/f", "x").ok());
  RunRequest pwd;
  pwd.shell = "pwd; kill -9 $$";
  pwd.cwd = "sub/dir";
  absl::StatusOr<RunOutcome> killed = hand_->Run(pwd, nullptr);
  ASSERT_TRUE(killed.ok()) << killed.status();
  EXPECT_EQ(killed->stdout_data, absl::StrCat(hand_->work_dir(), "/sub/dir\n"));
  EXPECT_FALSE(killed->exited);
  EXPECT_EQ(killed->term_signal, 9);

  RunRequest missing;
  missing.argv = {"/no/such/program"};
  absl::StatusOr<RunOutcome> absent = hand_->Run(missing, nullptr);
  // Either the hand says it could not start it, or the process reports the failure (127).
  if (absent.ok()) {
    EXPECT_TRUE(!absent->exited || absent->exit_code != 0);
  } else {
    EXPECT_NE(absent.status().code(), absl::StatusCode::kUnavailable) << absent.status();
  }
}

TEST_P(HandConformanceTest, AHandKilledFromOutsideIsUnavailable) {
  EXPECT_TRUE(hand_->Health().ok());
  ASSERT_TRUE(GetParam()->kill_from_outside(*hand_).ok());
  EXPECT_EQ(hand_->Health().code(), absl::StatusCode::kUnavailable);
  ToolCall call{"bash", R"({"command":"echo hi"})", "after-kill"};
  absl::StatusOr<ToolResult> result = RunTool(*hand_, call, nullptr, options_);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kUnavailable) << result.status();
  // A fresh hand for the same session works.
  EXPECT_TRUE(hand_->Release().ok());
  absl::StatusOr<std::unique_ptr<Hand>> fresh = provider_->Provision(session_id_, HandResources{});
  ASSERT_TRUE(fresh.ok()) << fresh.status();
  hand_ = *std::move(fresh);
  EXPECT_EQ(Sh("echo back"), "back\n");
}

TEST_P(HandConformanceTest, ReleaseIsIdempotentAndEndsTheHand) {
  EXPECT_TRUE(hand_->Release().ok());
  EXPECT_TRUE(hand_->Release().ok());
  EXPECT_EQ(hand_->ReadFile("x", 10).status().code(), absl::StatusCode::kFailedPrecondition);
  hand_.reset();
}

TEST_P(HandConformanceTest, ANewProviderReattachesToTheSessionsHand) {
  Sh("echo kept > state.txt");
  // The engine "crashes": its provider and hand objects are gone, the sandbox is not.
  hand_.reset();
  provider_.reset();
  absl::StatusOr<std::unique_ptr<HandProvider>> provider = GetParam()->make_provider();
  ASSERT_TRUE(provider.ok()) << provider.status();
  provider_ = *std::move(provider);
  absl::StatusOr<std::unique_ptr<Hand>> again = provider_->Reattach(session_id_, HandResources{});
  ASSERT_TRUE(again.ok()) << again.status();
  hand_ = *std::move(again);
  EXPECT_EQ(Sh("cat state.txt"), "kept\n");
  EXPECT_EQ(provider_->Reattach(NewSessionId(absl::Now()), HandResources{}).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_P(HandConformanceTest, ReapReleasesOnlyTheHandsNotKept) {
  const std::string other = NewSessionId(absl::Now());
  absl::StatusOr<std::unique_ptr<Hand>> other_hand = provider_->Provision(other, HandResources{});
  ASSERT_TRUE(other_hand.ok()) << other_hand.status();
  ASSERT_TRUE((*other_hand)->WriteFile("f", "x").ok());
  absl::StatusOr<size_t> reaped = provider_->ReapExcept([&](std::string_view session) {
    // Keep this test's session; other sessions of concurrently running tests are not ours to reap.
    return session != other;
  });
  ASSERT_TRUE(reaped.ok()) << reaped.status();
  EXPECT_EQ(*reaped, 1u);
  EXPECT_EQ(provider_->Reattach(other, HandResources{}).status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(hand_->Health().ok());
  EXPECT_EQ(Sh("echo still here"), "still here\n");
  (void)(*other_hand)->Release();  // already gone; must not fail hard
}

}  // namespace
}  // namespace wake::testing
