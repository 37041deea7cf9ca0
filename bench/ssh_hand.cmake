# hand_bench_ssh: the common hand benchmarks on the ssh backend, against an sshd it starts itself.
if(TARGET wake_hand_ssh)
  add_executable(hand_bench_ssh ${CMAKE_CURRENT_LIST_DIR}/ssh_hand_bench.cc
                 ${PROJECT_SOURCE_DIR}/tests/sandbox/ssh_test_server.cc ${PROJECT_SOURCE_DIR}/tests/storage/test_util.cc)
  target_include_directories(hand_bench_ssh PRIVATE ${PROJECT_SOURCE_DIR})
  target_link_libraries(hand_bench_ssh PRIVATE wake_hand_ssh wake_storage wake_sandbox benchmark::benchmark
                        absl::strings absl::time)
  target_compile_options(hand_bench_ssh PRIVATE ${WAKE_WARNINGS})
  target_compile_definitions(hand_bench_ssh PRIVATE WAKE_HAND_AGENT_PATH="$<TARGET_FILE:wake_hand_agent>")
  add_dependencies(hand_bench_ssh wake_hand_agent)
endif()
