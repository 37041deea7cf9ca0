# hand_bench_docker: the docker hand on the real daemon (scripts/services/docker.sh starts it and builds
# the test image): cold provision, warm `bash echo hi`, 1 MiB write + read.
if(TARGET wake_hand_docker)
  add_executable(hand_bench_docker ${CMAKE_CURRENT_LIST_DIR}/docker_hand_bench.cc)
  target_link_libraries(hand_bench_docker PRIVATE wake_hand_docker wake_sandbox benchmark::benchmark
                        absl::strings absl::time)
  target_compile_options(hand_bench_docker PRIVATE ${WAKE_WARNINGS})
  target_compile_definitions(hand_bench_docker PRIVATE WAKE_HAND_AGENT_PATH="$<TARGET_FILE:wake_hand_agent>")
  add_dependencies(hand_bench_docker wake_hand_agent)
endif()
