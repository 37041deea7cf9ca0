// Writes the seed corpora of the event fuzzers from tests/schemas/sample_events (every event type):
//   make_seeds DIR   ->  DIR/event_json/<name>.json, DIR/event_capnp/<name>.capnp
// The committed seeds in fuzz/corpus came from this; rerun it when the event vocabulary grows.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "schemas/event_codec.h"
#include "schemas/event_json.h"
#include "tests/schemas/sample_events.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_seeds DIR\n");
    return 2;
  }
  const std::string dir = argv[1];
  std::filesystem::create_directories(dir + "/event_json");
  std::filesystem::create_directories(dir + "/event_capnp");
  const std::vector<wake::Event> events = wake::testing::SampleEvents();
  for (size_t i = 0; i < events.size(); ++i) {
    const std::string name = wake::testing::SampleName(events[i], i);
    std::ofstream(dir + "/event_json/" + name + ".json", std::ios::binary) << wake::EncodeEventJson(events[i]);
    absl::StatusOr<std::string> bytes = wake::EncodeEvent(events[i]);
    if (!bytes.ok()) {
      std::fprintf(stderr, "make_seeds: %s: %s\n", name.c_str(), std::string(bytes.status().message()).c_str());
      return 1;
    }
    std::ofstream(dir + "/event_capnp/" + name + ".capnp", std::ios::binary) << *bytes;
  }
  std::printf("make_seeds: %zu events\n", events.size());
  return 0;
}
