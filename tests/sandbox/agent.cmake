# agent_test: wake_hand_agent run as a local child process over pipes, driven by AgentConnection.
if(TARGET wake_hand_agent AND TARGET wake_hand_agent_client)
  add_executable(agent_test ${CMAKE_CURRENT_LIST_DIR}/agent_test.cc ${CMAKE_CURRENT_LIST_DIR}/../storage/test_util.cc)
  target_link_libraries(agent_test PRIVATE wake_hand_agent_client wake_storage GTest::gtest_main absl::strings
                        CapnProto::kj-async CapnProto::kj)
  target_compile_definitions(agent_test PRIVATE WAKE_HAND_AGENT_PATH="$<TARGET_FILE:wake_hand_agent>")
  add_dependencies(agent_test wake_hand_agent)
  target_compile_options(agent_test PRIVATE ${WAKE_WARNINGS})
  gtest_discover_tests(agent_test DISCOVERY_TIMEOUT 60 PROPERTIES TIMEOUT 120)
endif()
