# The network brains (Anthropic Messages API, OpenAI-compatible chat completions) and their private
# helpers: a byte-chunk SSE parser, the libcurl streaming POST, lenient stream JSON access.
# Included from harness/CMakeLists.txt, which links wake_harness to CURL::libcurl and simdjson.
target_sources(wake_harness PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/anthropic_brain.cc
  ${CMAKE_CURRENT_LIST_DIR}/openai_brain.cc
  ${CMAKE_CURRENT_LIST_DIR}/internal/http_stream.cc
  ${CMAKE_CURRENT_LIST_DIR}/internal/sse_parser.cc
  ${CMAKE_CURRENT_LIST_DIR}/internal/stream_json.cc
)
