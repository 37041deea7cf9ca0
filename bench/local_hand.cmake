# hand_bench_local: the common hand benchmarks (bench/hand_bench.h) on the local backend.
if(TARGET wake_hand_local)
  add_executable(hand_bench_local ${CMAKE_CURRENT_LIST_DIR}/local_hand_bench.cc)
  target_include_directories(hand_bench_local PRIVATE ${PROJECT_SOURCE_DIR})
  target_link_libraries(hand_bench_local PRIVATE wake_hand_local wake_sandbox benchmark::benchmark absl::strings absl::time)
  target_compile_options(hand_bench_local PRIVATE ${WAKE_WARNINGS})
endif()
