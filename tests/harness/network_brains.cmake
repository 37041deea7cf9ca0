# The network brains' tests (AnthropicBrain, OpenAiBrain, the SSE parser) against a local fake model
# server. Included from tests/harness/CMakeLists.txt.
find_package(Boost 1.74 REQUIRED)

# A local HTTP server standing in for a model provider; later tests and benchmarks link it too.
add_library(wake_fake_model_server STATIC ${CMAKE_CURRENT_LIST_DIR}/fake_model_server.cc)
target_include_directories(wake_fake_model_server PUBLIC ${PROJECT_SOURCE_DIR})
target_link_libraries(wake_fake_model_server
  PUBLIC wake_base absl::status absl::statusor absl::strings Threads::Threads
  PRIVATE Boost::headers)
# Recorded provider streams (LoadRecordedStream).
target_compile_definitions(wake_fake_model_server PRIVATE
  WAKE_MODEL_TESTDATA_DIR="${CMAKE_CURRENT_LIST_DIR}/testdata")
target_compile_options(wake_fake_model_server PRIVATE ${WAKE_WARNINGS})
if(WAKE_TSAN AND CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
  # g++ 12 warns (-Wtsan) that TSan does not model the std::atomic_thread_fence inside Asio's
  # executor ops; the server never runs an io_context (blocking calls on its own threads only).
  target_compile_options(wake_fake_model_server PRIVATE -Wno-tsan)
endif()

add_executable(brains_test
  ${CMAKE_CURRENT_LIST_DIR}/anthropic_brain_test.cc
  ${CMAKE_CURRENT_LIST_DIR}/brain_test_util.cc
  ${CMAKE_CURRENT_LIST_DIR}/openai_brain_test.cc
)
target_link_libraries(brains_test PRIVATE wake_harness wake_fake_model_server GTest::gtest_main)
target_compile_options(brains_test PRIVATE ${WAKE_WARNINGS})
gtest_discover_tests(brains_test DISCOVERY_TIMEOUT 60 PROPERTIES TIMEOUT 120)

# The harness on a network brain, end to end on a real RocksDB log.
add_executable(harness_network_test
  ${CMAKE_CURRENT_LIST_DIR}/harness_network_test.cc
  ${CMAKE_CURRENT_LIST_DIR}/brain_test_util.cc
  ${CMAKE_CURRENT_LIST_DIR}/harness_test_util.cc
  ${CMAKE_CURRENT_LIST_DIR}/../storage/test_util.cc
)
target_link_libraries(harness_network_test PRIVATE wake_harness wake_storage wake_sandbox wake_fake_model_server
                      GTest::gtest_main)
target_compile_options(harness_network_test PRIVATE ${WAKE_WARNINGS})
gtest_discover_tests(harness_network_test DISCOVERY_TIMEOUT 60 PROPERTIES TIMEOUT 120)
