# ssh_hand_test: the ssh backend against a real sshd the test starts (scripts/services/sshd.sh
# installs openssh-server): the conformance suite and the host/user key checks.
if(TARGET wake_hand_ssh)
  add_executable(ssh_hand_test ${CMAKE_CURRENT_LIST_DIR}/ssh_hand_test.cc ${CMAKE_CURRENT_LIST_DIR}/ssh_test_server.cc
                 ${CMAKE_CURRENT_LIST_DIR}/../storage/test_util.cc)
  target_link_libraries(ssh_hand_test PRIVATE wake_hand_ssh wake_hand_conformance wake_storage GTest::gtest_main
                        GTest::gmock absl::strings absl::time)
  target_compile_options(ssh_hand_test PRIVATE ${WAKE_WARNINGS})
  target_compile_definitions(ssh_hand_test PRIVATE WAKE_HAND_AGENT_PATH="$<TARGET_FILE:wake_hand_agent>")
  add_dependencies(ssh_hand_test wake_hand_agent)
  gtest_discover_tests(ssh_hand_test DISCOVERY_TIMEOUT 60 PROPERTIES TIMEOUT 300)
endif()
