#pragma once
// The set-up every in-process server test starts from: a real Engine on local hands in a fresh
// temporary directory, an API key store beside its data, and waked's HTTP server in front of the
// engine with a client pointed at it. A fixture derives from ServedEngineTest and, in its SetUp, calls
// OpenEngine, then (after whatever else it needs) Serve, each under ASSERT_NO_FATAL_FAILURE.

#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "engine/engine.h"
#include "gtest/gtest.h"
#include "sandbox/local/local_hand.h"
#include "server/server.h"
#include "storage/api_key_store.h"
#include "tests/server/http_client.h"
#include "tests/server/test_engine.h"
#include "tests/storage/test_util.h"

namespace wake {

class ServedEngineTest : public ::testing::Test {
 protected:
  // Makes the temporary directory `name`-*, the local hand provider (hands under dir_/hands) and the
  // engine (data under dir_/data, 2 workers, a 200 ms shutdown grace).
  void OpenEngine(const std::string& name) {
    dir_ = testing::MakeTempDir(name);
    LocalProviderOptions local;
    local.base_dir = dir_ + "/hands";
    absl::StatusOr<std::unique_ptr<HandProvider>> provider = NewLocalProvider(local);
    ASSERT_TRUE(provider.ok()) << provider.status();
    local_ = *std::move(provider);
    absl::StatusOr<std::unique_ptr<Engine>> engine = testing::OpenTestEngine(dir_ + "/data", local_.get());
    ASSERT_TRUE(engine.ok()) << engine.status();
    engine_ = *std::move(engine);
  }

  // The API keys of the engine's data dir (opened on first use).
  ApiKeyStore* Keys() {
    if (!keys_) {
      ApiKeyStoreOptions options;
      options.data_dir = dir_ + "/data";
      keys_ = std::make_unique<ApiKeyStore>(options);
    }
    return keys_.get();
  }
  // A new API key of `workspace`; "" (and a test failure) when it cannot be made.
  std::string NewKey(const std::string& name, const std::string& workspace) {
    absl::StatusOr<CreatedApiKey> created = Keys()->Create(name, workspace);
    EXPECT_TRUE(created.ok()) << created.status();
    return created.ok() ? created->key : "";
  }

  // Server options that require a key from Keys() and log nothing.
  ServerOptions KeyedOptions() {
    ServerOptions options;
    options.require_api_key = true;
    options.api_keys = Keys();
    options.log = [](std::string_view) {};
    return options;
  }

  // Starts the server with `options` (stopping one already running) and points client_ at it.
  void Serve(ServerOptions options) {
    if (server_) server_->Stop();
    absl::StatusOr<std::unique_ptr<Server>> server = StartServer(engine_.get(), std::move(options));
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    client_ = std::make_unique<testing::HttpClient>(absl::StrCat("http://127.0.0.1:", server_->port()));
  }

  void TearDown() override {
    if (server_) server_->Stop();
    server_.reset();
    engine_.reset();
    testing::RemoveDir(dir_);
  }

  std::string dir_;
  std::unique_ptr<HandProvider> local_;
  std::unique_ptr<Engine> engine_;
  std::unique_ptr<ApiKeyStore> keys_;
  std::unique_ptr<Server> server_;
  std::unique_ptr<testing::HttpClient> client_;
};

}  // namespace wake
