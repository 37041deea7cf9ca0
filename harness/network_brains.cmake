# The network brains (Anthropic Messages API, OpenAI-compatible chat completions) and their private
# helpers: the libcurl streaming POST (SSE decoded by base/sse_parser.h), lenient stream JSON access.
# Included from harness/CMakeLists.txt, which links wake_harness to CURL::libcurl and simdjson.
target_sources(wake_harness PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/anthropic_brain.cc
  ${CMAKE_CURRENT_LIST_DIR}/openai_brain.cc
  ${CMAKE_CURRENT_LIST_DIR}/internal/http_stream.cc
  ${CMAKE_CURRENT_LIST_DIR}/internal/stream_json.cc
)
