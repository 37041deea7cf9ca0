#include "sandbox/vault.h"

#include "gtest/gtest.h"

namespace wake {
namespace {

TEST(VaultTest, StoresSecretsByNameAndRefusesBadOnes) {
  Vault vault;
  EXPECT_TRUE(vault.Put("github_token", "ghp_0123456789abcdef").ok());
  EXPECT_EQ(vault.Get("github_token").value_or("?"), "ghp_0123456789abcdef");
  EXPECT_EQ(vault.Get("other").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(vault.Put("bad name", "0123456789").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(vault.Put("", "0123456789").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(vault.Put("short", "abc").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(vault.Names(), std::vector<std::string>{"github_token"});
  EXPECT_TRUE(vault.Delete("github_token").ok());
  EXPECT_EQ(vault.Delete("github_token").code(), absl::StatusCode::kNotFound);
}

TEST(VaultTest, ResolvesOnlyWhatIsAskedFor) {
  Vault vault;
  ASSERT_TRUE(vault.Put("a", "secret-value-a").ok());
  ASSERT_TRUE(vault.Put("b", "secret-value-b").ok());
  auto env = vault.ResolveEnv({{"TOKEN", "a"}});
  ASSERT_TRUE(env.ok()) << env.status();
  ASSERT_EQ(env->size(), 1u);
  EXPECT_EQ((*env)[0], std::make_pair(std::string("TOKEN"), std::string("secret-value-a")));
  auto missing = vault.ResolveEnv({{"TOKEN", "a"}, {"OTHER", "zzz"}});
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("zzz"), absl::string_view::npos);
}

TEST(VaultTest, MasksEveryOccurrenceLongestFirst) {
  Vault vault;
  ASSERT_TRUE(vault.Put("inner", "password").ok());
  ASSERT_TRUE(vault.Put("outer", "password123!").ok());
  EXPECT_EQ(vault.Mask("x=password123! y=password z=password"),
            "x=[secret:outer] y=[secret:inner] z=[secret:inner]");
  EXPECT_EQ(vault.Mask("nothing here"), "nothing here");
}

TEST(VaultTest, MasksEveryTextOfAnEventIncludingJsonEscapedForms) {
  Vault vault;
  ASSERT_TRUE(vault.Put("quoted", "pa\"ss\\word").ok());
  Event e;
  e.type = EventType::kAgentToolResult;
  ContentBlock text;
  text.text = "the value is pa\"ss\\word.";
  e.content.push_back(text);
  e.input_json = R"({"cmd":"echo pa\"ss\\word"})";
  e.error.message = "failed with pa\"ss\\word";
  e.reason = "pa\"ss\\word";
  e.deny_message = "no pa\"ss\\word";
  vault.MaskEvent(e);
  EXPECT_EQ(e.content[0].text, "the value is [secret:quoted].");
  EXPECT_EQ(e.input_json, R"({"cmd":"echo [secret:quoted]"})");
  EXPECT_EQ(e.error.message, "failed with [secret:quoted]");
  EXPECT_EQ(e.reason, "[secret:quoted]");
  EXPECT_EQ(*e.deny_message, "no [secret:quoted]");
}

}  // namespace
}  // namespace wake
