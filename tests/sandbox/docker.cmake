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

# docker_confinement_test: a docker hand's confinement (no capabilities, no-new-privileges, limits, no
# host mounts) and a fork bomb and a memory hog through a real Engine (tool errors; the engine
# carries on), with the hand agent and per exec.
if(TARGET wake_hand_docker AND TARGET wake_engine)
  add_executable(docker_confinement_test ${CMAKE_CURRENT_LIST_DIR}/docker_confinement_test.cc
                 ${CMAKE_CURRENT_LIST_DIR}/../storage/test_util.cc)
  target_link_libraries(docker_confinement_test PRIVATE wake_engine wake_hand_docker GTest::gtest_main absl::strings)
  target_compile_options(docker_confinement_test PRIVATE ${WAKE_WARNINGS})
  target_compile_definitions(docker_confinement_test PRIVATE WAKE_HAND_AGENT_PATH="$<TARGET_FILE:wake_hand_agent>")
  add_dependencies(docker_confinement_test wake_hand_agent)
  gtest_discover_tests(docker_confinement_test DISCOVERY_TIMEOUT 60 PROPERTIES TIMEOUT 600)
endif()
