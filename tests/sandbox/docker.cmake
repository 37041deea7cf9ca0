# docker_hand_test: the docker hand backend against the real daemon (scripts/services/docker.sh
# starts dockerd and builds the local test image wake-test-busybox:latest): the conformance suite,
# the backend's own integration tests, and its pure parts (tar, stream demux).
if(TARGET wake_hand_docker)
  add_executable(docker_hand_test
    ${CMAKE_CURRENT_LIST_DIR}/docker_hand_test.cc
    ${CMAKE_CURRENT_LIST_DIR}/docker_internal_test.cc)
  target_link_libraries(docker_hand_test PRIVATE
    wake_hand_docker wake_hand_conformance GTest::gtest_main GTest::gmock simdjson::simdjson absl::strings)
  target_compile_options(docker_hand_test PRIVATE ${WAKE_WARNINGS})
  # The hand agent the agent-path tests copy into their containers.
  target_compile_definitions(docker_hand_test PRIVATE WAKE_HAND_AGENT_PATH="$<TARGET_FILE:wake_hand_agent>")
  add_dependencies(docker_hand_test wake_hand_agent)
  gtest_discover_tests(docker_hand_test DISCOVERY_TIMEOUT 60 PROPERTIES TIMEOUT 300)
endif()
