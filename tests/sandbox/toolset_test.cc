// The toolset's pure parts: path confinement and glob matching. (The tools themselves run against
// real hands in the conformance suite.)

#include "sandbox/toolset.h"

#include "gtest/gtest.h"

namespace wake {
namespace {

TEST(ResolveToolPathTest, RelativeAndAbsolutePathsInsideTheWorkDir) {
  EXPECT_EQ(ResolveToolPath("/work", "a/b.txt").value_or("?"), "/work/a/b.txt");
  EXPECT_EQ(ResolveToolPath("/work", "./a//b/../c").value_or("?"), "/work/a/c");
  EXPECT_EQ(ResolveToolPath("/work", "/work/x").value_or("?"), "/work/x");
  EXPECT_EQ(ResolveToolPath("/work", ".").value_or("?"), "/work");
  EXPECT_EQ(ResolveToolPath("/work", "/work/").value_or("?"), "/work");
  EXPECT_EQ(ResolveToolPath("/", "etc/hosts").value_or("?"), "/etc/hosts");
}

TEST(ResolveToolPathTest, PathsLeavingTheWorkDirAreRefused) {
  for (const char* path : {"..", "../x", "a/../../x", "/etc/passwd", "/workspace/x", "/wor", "/"}) {
    absl::StatusOr<std::string> resolved = ResolveToolPath("/work", path);
    EXPECT_EQ(resolved.status().code(), absl::StatusCode::kInvalidArgument) << path;
  }
  EXPECT_EQ(ResolveToolPath("/work", "").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ResolveToolPath("/work", std::string_view("a\0b", 3)).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ResolveToolPath("/", "/..").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(GlobMatchTest, StarsQuestionMarksAndClassesStayWithinAComponent) {
  EXPECT_TRUE(GlobMatch("*.cc", "main.cc"));
  EXPECT_FALSE(GlobMatch("*.cc", "src/main.cc"));
  EXPECT_TRUE(GlobMatch("src/*.cc", "src/main.cc"));
  EXPECT_TRUE(GlobMatch("ma?n.c[cx]", "main.cx"));
  EXPECT_FALSE(GlobMatch("ma?n.c[!cx]", "main.cc"));
  EXPECT_TRUE(GlobMatch("ma?n.c[^x]", "main.cc"));
  EXPECT_TRUE(GlobMatch("file[0-9].txt", "file7.txt"));
  EXPECT_FALSE(GlobMatch("file[0-9].txt", "filex.txt"));
  EXPECT_TRUE(GlobMatch("a*b*c", "aXXbYYc"));
  EXPECT_FALSE(GlobMatch("a*b*c", "aXXbYY"));
  EXPECT_TRUE(GlobMatch("weird[", "weird["));
  EXPECT_TRUE(GlobMatch("*", "anything"));
}

TEST(GlobMatchTest, DoubleStarSpansDirectories) {
  EXPECT_TRUE(GlobMatch("**/*.cc", "main.cc"));
  EXPECT_TRUE(GlobMatch("**/*.cc", "a/b/c/main.cc"));
  EXPECT_TRUE(GlobMatch("src/**/test_*.py", "src/test_a.py"));
  EXPECT_TRUE(GlobMatch("src/**/test_*.py", "src/x/y/test_a.py"));
  EXPECT_FALSE(GlobMatch("src/**/test_*.py", "lib/x/test_a.py"));
  EXPECT_TRUE(GlobMatch("**", "a/b"));
}

TEST(StandardToolsTest, SixToolsWithSchemas) {
  ASSERT_EQ(StandardTools().size(), 6u);
  for (const ToolSpec& spec : StandardTools()) {
    EXPECT_TRUE(IsStandardTool(spec.name));
    EXPECT_EQ(spec.input_schema_json.front(), '{') << spec.name;
    EXPECT_FALSE(spec.description.empty()) << spec.name;
  }
  EXPECT_FALSE(IsStandardTool("teleport"));
}

}  // namespace
}  // namespace wake
