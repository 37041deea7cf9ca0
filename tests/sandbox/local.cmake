# local_hand_test: the local backend: the conformance suite and its own confinement tests.
if(TARGET wake_hand_local)
  add_executable(local_hand_test ${CMAKE_CURRENT_LIST_DIR}/local_hand_test.cc ${CMAKE_CURRENT_LIST_DIR}/../storage/test_util.cc)
  target_link_libraries(local_hand_test PRIVATE wake_hand_local wake_hand_conformance wake_storage GTest::gtest_main GTest::gmock
                        absl::strings)
  target_compile_options(local_hand_test PRIVATE ${WAKE_WARNINGS})
  gtest_discover_tests(local_hand_test DISCOVERY_TIMEOUT 60 PROPERTIES TIMEOUT 300)
endif()
