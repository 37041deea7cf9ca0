// Vaults and credentials on real parts: RocksDB on disk, the data key file, the local hand backend and
// the scripted brain. What they prove: a credential survives a restart; its value is never on disk in
// plain text; it reaches the hand of a session that names its vault, and only masked in the log.

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>

#include "absl/strings/match.h"
#include "engine/engine.h"
#include "engine/secret_box.h"
#include "inspect/transfer.h"
#include "gtest/gtest.h"
#include "sandbox/local/local_hand.h"
#include "storage/rocksdb_session_log.h"
#include "tests/storage/test_util.h"

namespace wake {
namespace {

constexpr char kSecret[] = "ghp_wakeVaultTest_7f3a9c2e51";

std::string ReadAll(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Every file under `dir` whose bytes contain `needle`.
std::vector<std::string> FilesContaining(const std::string& dir, std::string_view needle) {
  std::vector<std::string> hits;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    if (ReadAll(entry.path()).find(needle) != std::string::npos) hits.push_back(entry.path().string());
  }
  return hits;
}

class VaultTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::MakeTempDir("vault");
    LocalProviderOptions local;
    local.base_dir = dir_ + "/hands";
    local_ = *NewLocalProvider(local);
    ASSERT_TRUE(Open().ok());
  }
  void TearDown() override {
    engine_.reset();
    testing::RemoveDir(dir_);
  }

  absl::Status Open(std::string key = "") {
    engine_.reset();
    EngineOptions options;
    options.data_dir = dir_ + "/data";
    options.hand_providers = {{"local", local_.get()}};
    options.workers = 2;
    options.shutdown_grace = absl::Milliseconds(200);
    options.vault_key = std::move(key);
    absl::StatusOr<std::unique_ptr<Engine>> engine = Engine::Open(std::move(options));
    if (!engine.ok()) return engine.status();
    engine_ = *std::move(engine);
    return absl::OkStatus();
  }

  VaultInfo NewVault(const std::string& name = "ci") {
    VaultSpec spec;
    spec.display_name = name;
    absl::StatusOr<VaultInfo> vault = engine_->CreateVault(spec);
    EXPECT_TRUE(vault.ok()) << vault.status();
    return *vault;
  }

  static CredentialSpec EnvCredential(const std::string& variable) {
    CredentialSpec spec;
    spec.display_name = "deploy token";
    spec.auth.type = CredentialAuth::Type::kEnvironmentVariable;
    spec.auth.secret_name = variable;
    return spec;
  }

  // A session whose scripted agent runs `command` in bash once.
  std::string RunCommand(const std::string& command, std::vector<std::string> vault_ids) {
    {
      std::ofstream script(dir_ + "/script.json");
      script << R"({"turns":[{"tool_calls":[{"name":"bash","input":{"command":")" << command
             << R"("}}]},{"text":"done"}]})";
    }
    AgentSpec agent;
    agent.name = "runner";
    agent.model = "scripted:" + dir_ + "/script.json";
    absl::StatusOr<Agent> created = engine_->CreateAgent(agent);
    EXPECT_TRUE(created.ok()) << created.status();
    CreateSessionRequest request;
    request.agent_id = created->id;
    request.vault_ids = std::move(vault_ids);
    absl::StatusOr<SessionInfo> session = engine_->CreateSession(request);
    EXPECT_TRUE(session.ok()) << session.status();
    Event message;
    message.type = EventType::kUserMessage;
    ContentBlock block;
    block.text = "go";
    message.content.push_back(block);
    EXPECT_TRUE(engine_->SendEvents(session->id, {message}).ok());
    engine_->WaitUntilQuiet();
    return session->id;
  }

  std::string LogText(const std::string& session) {
    std::string all;
    absl::StatusOr<std::vector<Event>> events = engine_->ReadEvents(session);
    EXPECT_TRUE(events.ok()) << events.status();
    if (!events.ok()) return all;
    for (const Event& e : *events) {
      for (const ContentBlock& b : e.content) all += b.text + "\n";
      all += e.input_json + "\n";
    }
    return all;
  }

  std::string dir_;
  std::unique_ptr<HandProvider> local_;
  std::unique_ptr<Engine> engine_;
};

TEST_F(VaultTest, ACredentialSurvivesARestartSealedAndReachesOnlyMaskedLogs) {
  const VaultInfo vault = NewVault();
  CredentialSecrets secrets;
  secrets.value = kSecret;
  absl::StatusOr<Credential> credential = engine_->CreateCredential(vault.id, EnvCredential("DEPLOY_TOKEN"), secrets);
  ASSERT_TRUE(credential.ok()) << credential.status();
  EXPECT_TRUE(absl::StartsWith(credential->id, "vcrd_"));
  EXPECT_EQ(credential->vault_id, vault.id);

  // The key file: made with the first credential, 32 bytes, owner-only.
  struct stat st {};
  ASSERT_EQ(stat((dir_ + "/data/vault.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_size, 32);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  // Restart: nothing but the store and the key carry the secret over.
  engine_.reset();
  // At rest: no file of the store holds the value (the WAL holds the credential's document).
  EXPECT_TRUE(FilesContaining(dir_ + "/data", kSecret).empty());
  EXPECT_FALSE(FilesContaining(dir_ + "/data", "DEPLOY_TOKEN").empty()) << "the scan saw no credential at all";
  {
    RocksDbSessionLogOptions options;
    options.path = dir_ + "/data";
    absl::StatusOr<RocksDbStore> store = OpenRocksDbStore(options);
    ASSERT_TRUE(store.ok()) << store.status();
    absl::StatusOr<Document> raw =
        store->documents->Get("vault_credential", absl::StrCat(vault.id, "/", credential->id));
    ASSERT_TRUE(raw.ok()) << raw.status();
    EXPECT_TRUE(absl::StrContains(raw->json, "\"sealed\":\"")) << raw->json;
    EXPECT_FALSE(absl::StrContains(raw->json, kSecret)) << raw->json;
  }
  ASSERT_TRUE(Open().ok());
  absl::StatusOr<Credential> reread = engine_->GetCredential(vault.id, credential->id);
  ASSERT_TRUE(reread.ok()) << reread.status();
  EXPECT_EQ(reread->spec.auth.secret_name, "DEPLOY_TOKEN");
  EXPECT_EQ(*engine_->vault().Get(credential->id), kSecret);

  // The hand of a session that names the vault gets the variable; the log only the masked form.
  const std::string s = RunCommand("echo token=$DEPLOY_TOKEN", {vault.id});
  const std::string log = LogText(s);
  EXPECT_TRUE(absl::StrContains(log, absl::StrCat("token=[secret:", credential->id, "]"))) << log;
  EXPECT_FALSE(absl::StrContains(log, kSecret)) << log;
  EXPECT_EQ(*engine_->SessionVaultIds(s), std::vector<std::string>{vault.id});
  // An export (wakectl export) carries the log as stored: masked.
  std::ostringstream exported;
  ASSERT_TRUE(ExportSession(engine_->log(), s, exported).ok());
  EXPECT_TRUE(absl::StrContains(exported.str(), absl::StrCat("[secret:", credential->id, "]"))) << exported.str();
  EXPECT_FALSE(absl::StrContains(exported.str(), kSecret)) << exported.str();

  // A session that names no vault gets nothing.
  const std::string other = RunCommand("echo token=[$DEPLOY_TOKEN]", {});
  EXPECT_TRUE(absl::StrContains(LogText(other), "token=[]")) << LogText(other);
  engine_.reset();
  EXPECT_TRUE(FilesContaining(dir_ + "/data", kSecret).empty());
}

TEST_F(VaultTest, UpdateArchiveAndDeleteChangeWhatHandsAndMaskingSee) {
  const VaultInfo vault = NewVault();
  CredentialSecrets secrets;
  secrets.value = kSecret;
  const Credential c = *engine_->CreateCredential(vault.id, EnvCredential("API_TOKEN"), secrets);

  CredentialSecrets rotated;
  rotated.value = "rotated-value-0123456789";
  CredentialSpec spec = c.spec;
  spec.display_name = "rotated";
  absl::StatusOr<Credential> updated = engine_->UpdateCredential(vault.id, c.id, spec, rotated);
  ASSERT_TRUE(updated.ok()) << updated.status();
  EXPECT_EQ(updated->spec.display_name, "rotated");
  EXPECT_EQ(*engine_->vault().Get(c.id), "rotated-value-0123456789");
  // An update without a secret keeps the stored one.
  spec.metadata = {{"team", "infra"}};
  ASSERT_TRUE(engine_->UpdateCredential(vault.id, c.id, spec, {}).ok());
  EXPECT_EQ(*engine_->vault().Get(c.id), "rotated-value-0123456789");
  std::string log = LogText(RunCommand("echo v=$API_TOKEN", {vault.id}));
  EXPECT_TRUE(absl::StrContains(log, absl::StrCat("v=[secret:", c.id, "]"))) << log;

  // Archived: no longer handed out, still masked.
  ASSERT_TRUE(engine_->ArchiveCredential(vault.id, c.id).ok());
  EXPECT_EQ(engine_->ListCredentials(vault.id, "", 10, false)->items.size(), 0u);
  EXPECT_EQ(engine_->ListCredentials(vault.id, "", 10, true)->items.size(), 1u);
  log = LogText(RunCommand("echo v=[$API_TOKEN] rotated-value-0123456789", {vault.id}));
  EXPECT_TRUE(absl::StrContains(log, absl::StrCat("v=[] [secret:", c.id, "]"))) << log;

  // Deleting the vault deletes its credentials, in the store and in memory.
  ASSERT_TRUE(engine_->DeleteVault(vault.id).ok());
  EXPECT_EQ(engine_->GetCredential(vault.id, c.id).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(engine_->vault().Get(c.id).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(engine_->GetVault(vault.id).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(VaultTest, BadInputIsRefusedAndStoresNothing) {
  VaultSpec unnamed;
  EXPECT_EQ(engine_->CreateVault(unnamed).status().code(), absl::StatusCode::kInvalidArgument);
  const VaultInfo vault = NewVault();
  CredentialSecrets good;
  good.value = kSecret;
  CredentialSecrets short_value;
  short_value.value = "short";
  EXPECT_EQ(engine_->CreateCredential(vault.id, EnvCredential("TOKEN"), short_value).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(engine_->CreateCredential(vault.id, EnvCredential("1BAD-NAME"), good).status().code(),
            absl::StatusCode::kInvalidArgument);
  CredentialSpec bearer;
  bearer.auth.type = CredentialAuth::Type::kStaticBearer;
  bearer.auth.mcp_server_url = "not a url";
  EXPECT_EQ(engine_->CreateCredential(vault.id, bearer, good).status().code(), absl::StatusCode::kInvalidArgument);
  CredentialSpec hosts = EnvCredential("TOKEN");
  hosts.auth.allowed_hosts = std::vector<std::string>{"https://example.com/path"};
  EXPECT_EQ(engine_->CreateCredential(vault.id, hosts, good).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(engine_->CreateCredential("vlt_missing", EnvCredential("TOKEN"), good).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(engine_->ListCredentials(vault.id, "", 10, true)->items.size(), 0u);
  EXPECT_TRUE(engine_->vault().Names().empty());

  // Immutable fields stay as they were.
  const Credential c = *engine_->CreateCredential(vault.id, EnvCredential("TOKEN"), good);
  EXPECT_EQ(engine_->UpdateCredential(vault.id, c.id, EnvCredential("OTHER"), {}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(engine_->UpdateCredential(vault.id, c.id, bearer, {}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(engine_->GetCredential(vault.id, c.id)->spec.auth.secret_name, "TOKEN");
  // A credential is found only through its own vault.
  const VaultInfo other = NewVault("other");
  EXPECT_EQ(engine_->GetCredential(other.id, c.id).status().code(), absl::StatusCode::kNotFound);

  // Sessions name live vaults only, each once.
  AgentSpec agent;
  agent.name = "a";
  agent.model = "scripted";
  CreateSessionRequest request;
  request.agent_id = engine_->CreateAgent(agent)->id;
  request.vault_ids = {"vlt_missing"};
  EXPECT_EQ(engine_->CreateSession(request).status().code(), absl::StatusCode::kNotFound);
  request.vault_ids = {vault.id, vault.id};
  EXPECT_EQ(engine_->CreateSession(request).status().code(), absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(engine_->ArchiveVault(other.id).ok());
  request.vault_ids = {other.id};
  EXPECT_EQ(engine_->CreateSession(request).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(engine_->CreateCredential(other.id, EnvCredential("X"), good).status().code(),
            absl::StatusCode::kFailedPrecondition);
  ListSessionsOptions list;
  EXPECT_TRUE(engine_->ListSessions(list)->sessions.empty());
}

TEST_F(VaultTest, TheStoreAloneOpensNothing) {
  // An embedder's key: no key file is written.
  engine_.reset();
  const std::string key(32, 'k');
  ASSERT_TRUE(Open(key).ok());
  const VaultInfo vault = NewVault();
  CredentialSecrets secrets;
  secrets.value = kSecret;
  ASSERT_TRUE(engine_->CreateCredential(vault.id, EnvCredential("T"), secrets).ok());
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/data/vault.key"));
  engine_.reset();
  // Without the key (no key file either), or with another one, the engine refuses to open.
  absl::Status missing = Open();
  EXPECT_EQ(missing.code(), absl::StatusCode::kFailedPrecondition) << missing;
  EXPECT_TRUE(absl::StrContains(missing.message(), "vault.key")) << missing;
  absl::Status wrong = Open(std::string(32, 'w'));
  EXPECT_EQ(wrong.code(), absl::StatusCode::kDataLoss) << wrong;
  EXPECT_EQ(Open("too short").code(), absl::StatusCode::kInvalidArgument);
  testing::RemoveDir(dir_ + "/data");
  EXPECT_EQ(Open("too short").code(), absl::StatusCode::kInvalidArgument) << "even with no credential stored";
}

TEST_F(VaultTest, TheRightKeyOpensTheStoreAgain) {
  engine_.reset();
  const std::string key(32, 'k');
  ASSERT_TRUE(Open(key).ok());
  const VaultInfo vault = NewVault();
  CredentialSecrets secrets;
  secrets.value = kSecret;
  const Credential c = *engine_->CreateCredential(vault.id, EnvCredential("T"), secrets);
  ASSERT_TRUE(Open(std::string(32, 'w')).code() == absl::StatusCode::kDataLoss);
  ASSERT_TRUE(Open(key).ok());
  EXPECT_EQ(*engine_->vault().Get(c.id), kSecret);
}

TEST(SecretBoxTest, SealsBindToTheKeyAndTheContext) {
  absl::StatusOr<SecretBox> box = SecretBox::FromKey(std::string(32, 'a'));
  ASSERT_TRUE(box.ok());
  absl::StatusOr<std::string> sealed = box->Seal(kSecret, "vcrd_1");
  ASSERT_TRUE(sealed.ok());
  EXPECT_EQ(sealed->size(), std::string_view(kSecret).size() + SecretBox::kNonceBytes + SecretBox::kTagBytes);
  EXPECT_EQ(sealed->find(kSecret), std::string::npos);
  EXPECT_EQ(*box->Open(*sealed, "vcrd_1"), kSecret);
  // Two seals of one value differ (a fresh nonce each time).
  EXPECT_NE(*box->Seal(kSecret, "vcrd_1"), *sealed);
  EXPECT_EQ(box->Open(*sealed, "vcrd_2").status().code(), absl::StatusCode::kDataLoss);
  std::string altered = *sealed;
  altered[SecretBox::kNonceBytes] ^= 1;
  EXPECT_EQ(box->Open(altered, "vcrd_1").status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(SecretBox::FromKey(std::string(32, 'b'))->Open(*sealed, "vcrd_1").status().code(),
            absl::StatusCode::kDataLoss);
}

TEST(SecretBoxTest, AKeyFileOthersCanReadIsRefused) {
  const std::string dir = testing::MakeTempDir("vaultkey");
  const std::string path = dir + "/vault.key";
  ASSERT_TRUE(SecretBox::LoadOrCreateKeyFile(path).ok());
  const std::string first = ReadAll(path);
  ASSERT_TRUE(SecretBox::LoadOrCreateKeyFile(path).ok());
  EXPECT_EQ(ReadAll(path), first);  // loaded, not replaced
  ASSERT_EQ(chmod(path.c_str(), 0644), 0);
  absl::StatusOr<SecretBox> loose = SecretBox::LoadOrCreateKeyFile(path);
  EXPECT_EQ(loose.status().code(), absl::StatusCode::kFailedPrecondition) << loose.status();
  testing::RemoveDir(dir);
}

}  // namespace
}  // namespace wake
