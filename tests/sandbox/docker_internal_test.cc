// The docker backend's pure parts: the tar archives the archive endpoints exchange, and the demuxer of
// an exec's multiplexed stream. (What the daemon itself sends is covered by docker_hand_test.cc.)

#include <string>

#include "gtest/gtest.h"
#include "sandbox/docker/internal/stream_demux.h"
#include "sandbox/docker/internal/tar.h"

namespace wake::docker_internal {
namespace {

TEST(TarTest, OneFileRoundTrips) {
  std::string content;
  for (int i = 0; i < 1000; ++i) content.push_back(static_cast<char>(i * 31));
  const std::string archive = TarOneFile("data.bin", content, 0755, 1700000000);
  EXPECT_EQ(archive.size() % 512, 0u);
  absl::StatusOr<TarEntry> entry = FirstTarEntry(archive);
  ASSERT_TRUE(entry.ok()) << entry.status();
  EXPECT_EQ(entry->type, '0');
  EXPECT_EQ(entry->name, "data.bin");
  EXPECT_EQ(entry->mode, 0755u);
  EXPECT_TRUE(entry->content == content);
}

TEST(TarTest, LongNamesTravelInAPaxHeader) {
  const std::string name = std::string(180, 'x') + ".txt";
  absl::StatusOr<TarEntry> entry = FirstTarEntry(TarOneFile(name, "hi", 0644, 0));
  ASSERT_TRUE(entry.ok()) << entry.status();
  EXPECT_EQ(entry->name, name);
  EXPECT_EQ(entry->content, "hi");
}

TEST(TarTest, EmptyFilesAndArchives) {
  absl::StatusOr<TarEntry> entry = FirstTarEntry(TarOneFile("empty", "", 0600, 0));
  ASSERT_TRUE(entry.ok()) << entry.status();
  EXPECT_EQ(entry->content, "");
  EXPECT_EQ(FirstTarEntry(std::string(1024, '\0')).status().code(), absl::StatusCode::kNotFound);
}

TEST(TarTest, DamageIsDataLoss) {
  std::string archive = TarOneFile("f", "content", 0644, 0);
  EXPECT_EQ(FirstTarEntry(archive.substr(0, 300)).status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(FirstTarEntry(archive.substr(0, 515)).status().code(), absl::StatusCode::kDataLoss);
  archive[10] ^= 1;  // breaks the checksum
  EXPECT_EQ(FirstTarEntry(archive).status().code(), absl::StatusCode::kDataLoss);
}

std::string Frame(char stream, std::string_view payload) {
  std::string out = {stream, 0, 0, 0};
  const uint32_t n = static_cast<uint32_t>(payload.size());
  out.push_back(static_cast<char>(n >> 24));
  out.push_back(static_cast<char>(n >> 16));
  out.push_back(static_cast<char>(n >> 8));
  out.push_back(static_cast<char>(n));
  out.append(payload);
  return out;
}

TEST(StreamDemuxTest, SplitsFramesCutAnywhere) {
  const std::string stream = Frame(1, "hello ") + Frame(2, "warning\n") + Frame(1, std::string("wor\0ld", 6)) +
                             Frame(1, "") + Frame(2, "!");
  for (size_t step = 1; step <= stream.size(); ++step) {
    StreamDemux demux(1 << 20);
    for (size_t i = 0; i < stream.size(); i += step) demux.Feed(std::string_view(stream).substr(i, step));
    EXPECT_EQ(demux.stdout_data(), std::string("hello wor\0ld", 12)) << step;
    EXPECT_EQ(demux.stderr_data(), "warning\n!") << step;
    EXPECT_FALSE(demux.mid_frame());
    EXPECT_FALSE(demux.stdout_truncated());
  }
}

TEST(StreamDemuxTest, KeepsAtMostTheCapPerStream) {
  StreamDemux demux(5);
  demux.Feed(Frame(1, "abc") + Frame(2, "123456789") + Frame(1, "defgh"));
  EXPECT_EQ(demux.stdout_data(), "abcde");
  EXPECT_EQ(demux.stderr_data(), "12345");
  EXPECT_TRUE(demux.stdout_truncated());
  EXPECT_TRUE(demux.stderr_truncated());
  demux.Feed(std::string_view(Frame(1, "xyz")).substr(0, 9));
  EXPECT_TRUE(demux.mid_frame());
}

}  // namespace
}  // namespace wake::docker_internal
