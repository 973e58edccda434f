#include "iso8583/framing.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace kytkin::iso8583 {
namespace {

std::span<const uint8_t> Bytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}
std::string Str(std::span<const uint8_t> b) {
  return std::string(reinterpret_cast<const char*>(b.data()), b.size());
}

std::string Framed(Framing framing, std::string_view payload) {
  std::vector<uint8_t> header(FrameHeaderBytes(framing));
  EXPECT_TRUE(WriteFrameHeader(framing, payload.size(), header).ok());
  return Str(header) + std::string(payload);
}

// Every complete frame the decoder yields for `input` fed in chunks of `chunk` bytes.
std::vector<std::string> DecodeAll(FrameDecoder& d, std::string_view input, size_t chunk) {
  std::vector<std::string> frames;
  while (true) {
    if (!input.empty()) {
      size_t n = d.Feed(Bytes(input.substr(0, chunk)));
      input.remove_prefix(n);
    }
    while (true) {
      FrameDecoder::Frame f = d.Next();
      if (f.state != FrameDecoder::State::kFrame) break;
      frames.push_back(Str(f.payload));
    }
    if (input.empty() || d.failed()) break;
  }
  return frames;
}

TEST(FrameHeader, Encodings) {
  uint8_t out[4] = {};
  ASSERT_TRUE(WriteFrameHeader(Framing::kBinary2, 0x0123, out).ok());
  EXPECT_EQ(out[0], 0x01);
  EXPECT_EQ(out[1], 0x23);
  ASSERT_TRUE(WriteFrameHeader(Framing::kAscii4, 123, out).ok());
  EXPECT_EQ(Str(out), "0123");
  EXPECT_TRUE(WriteFrameHeader(Framing::kBinary2, 65535, out).ok());
  EXPECT_EQ(WriteFrameHeader(Framing::kBinary2, 65536, out).code(), Status::Code::kInvalidArgument);
  EXPECT_TRUE(WriteFrameHeader(Framing::kAscii4, 9999, out).ok());
  EXPECT_FALSE(WriteFrameHeader(Framing::kAscii4, 10000, out).ok());
  EXPECT_EQ(WriteFrameHeader(Framing::kAscii4, 1, std::span<uint8_t>(out, 3)).code(),
            Status::Code::kResourceExhausted);
  EXPECT_TRUE(WriteFrameHeader(Framing::kNone, 12345, {}).ok());
}

TEST(FrameHeader, Names) {
  for (Framing f : {Framing::kBinary2, Framing::kAscii4, Framing::kNone}) {
    EXPECT_EQ(*ParseFraming(FramingName(f)), f);
  }
  EXPECT_FALSE(ParseFraming("nac").ok());
}

class FrameDecoderTest : public ::testing::TestWithParam<Framing> {};

TEST_P(FrameDecoderTest, ManyFramesPerReadAndPartialFramesAtEveryChunkSize) {
  const Framing framing = GetParam();
  const std::vector<std::string> payloads = {"0800abc", std::string(300, 'x'), "z",
                                             std::string(1000, 'q')};
  std::string stream;
  for (const std::string& p : payloads) stream += Framed(framing, p);
  for (size_t chunk : {size_t{1}, size_t{2}, size_t{3}, size_t{7}, size_t{64}, stream.size()}) {
    FrameDecoderOptions o;
    o.framing = framing;
    o.frame_bytes_max = 1000;
    o.read_slack_bytes = 100;
    FrameDecoder d(o);
    EXPECT_EQ(DecodeAll(d, stream, chunk), payloads) << "chunk " << chunk;
    EXPECT_FALSE(d.failed());
    EXPECT_EQ(d.buffered_bytes(), 0u);
    EXPECT_EQ(d.frames(), payloads.size());
  }
}

TEST_P(FrameDecoderTest, FrameAtMaxAcceptedMaxPlusOneRejected) {
  const Framing framing = GetParam();
  FrameDecoderOptions o;
  o.framing = framing;
  o.frame_bytes_max = 500;
  {
    FrameDecoder d(o);
    EXPECT_EQ(DecodeAll(d, Framed(framing, std::string(500, 'a')), 4096).size(), 1u);
    EXPECT_FALSE(d.failed());
  }
  FrameDecoder d(o);
  // Only the header of the oversized frame has arrived: rejected before the body is buffered.
  std::string header = Framed(framing, std::string(501, 'a')).substr(0, 4);
  EXPECT_TRUE(DecodeAll(d, header, 4096).empty());
  EXPECT_TRUE(d.failed());
  EXPECT_EQ(d.error().code(), Status::Code::kResourceExhausted);
  EXPECT_EQ(d.Next().state, FrameDecoder::State::kError);
  EXPECT_TRUE(d.WritableSpan().empty());
  EXPECT_EQ(d.Feed(Bytes("more")), 0u);
}

TEST_P(FrameDecoderTest, ZeroLengthFramesAreSkippedAndCounted) {
  const Framing framing = GetParam();
  FrameDecoderOptions o;
  o.framing = framing;
  FrameDecoder d(o);
  std::string stream = Framed(framing, "") + Framed(framing, "A") + Framed(framing, "") +
                       Framed(framing, "") + Framed(framing, "B");
  EXPECT_EQ(DecodeAll(d, stream, 1), (std::vector<std::string>{"A", "B"}));
  EXPECT_EQ(d.zero_length_frames(), 3u);
}

TEST_P(FrameDecoderTest, ZeroCopyReadPath) {
  const Framing framing = GetParam();
  FrameDecoderOptions o;
  o.framing = framing;
  o.frame_bytes_max = 64;
  o.read_slack_bytes = 0;
  FrameDecoder d(o);
  // Simulates a socket that returns 5 bytes per read, across many frames (forces compaction).
  std::string stream;
  for (int i = 0; i < 100; ++i) stream += Framed(framing, "frame-" + std::to_string(i));
  size_t pos = 0;
  int seen = 0;
  while (pos < stream.size()) {
    std::span<uint8_t> room = d.WritableSpan();
    ASSERT_FALSE(room.empty());
    size_t n = std::min({room.size(), stream.size() - pos, size_t{5}});
    std::copy_n(stream.data() + pos, n, room.data());
    d.Commit(n);
    pos += n;
    for (FrameDecoder::Frame f = d.Next(); f.state == FrameDecoder::State::kFrame; f = d.Next()) {
      EXPECT_EQ(Str(f.payload), "frame-" + std::to_string(seen));
      ++seen;
    }
  }
  EXPECT_EQ(seen, 100);
}

INSTANTIATE_TEST_SUITE_P(Headers, FrameDecoderTest,
                         ::testing::Values(Framing::kBinary2, Framing::kAscii4),
                         [](const auto& p) { return std::string(FramingName(p.param)); });

TEST(FrameDecoder, PayloadsOfOneReadStayValidUntilTheNextRead) {
  FrameDecoderOptions o;
  FrameDecoder d(o);
  const std::string stream = Framed(Framing::kBinary2, "first") +
                             Framed(Framing::kBinary2, "second") + Framed(Framing::kBinary2, "x");
  ASSERT_EQ(d.Feed(Bytes(stream)), stream.size());
  std::vector<std::span<const uint8_t>> payloads;
  for (FrameDecoder::Frame f = d.Next(); f.state == FrameDecoder::State::kFrame; f = d.Next()) {
    payloads.push_back(f.payload);
  }
  ASSERT_EQ(payloads.size(), 3u);
  EXPECT_EQ(Str(payloads[0]), "first");  // still intact after the later Next() calls
  EXPECT_EQ(Str(payloads[1]), "second");
  EXPECT_EQ(Str(payloads[2]), "x");
}

TEST(FrameDecoder, BadAsciiHeaderFails) {
  FrameDecoderOptions o;
  o.framing = Framing::kAscii4;
  FrameDecoder d(o);
  EXPECT_TRUE(DecodeAll(d, "00a5hello", 100).empty());
  EXPECT_TRUE(d.failed());
  EXPECT_EQ(d.error().code(), Status::Code::kCorruption);
}

TEST(FrameDecoder, NoFramingTakesEachReadAsOneMessage) {
  FrameDecoderOptions o;
  o.framing = Framing::kNone;
  o.frame_bytes_max = 10;
  FrameDecoder d(o);
  EXPECT_EQ(d.Next().state, FrameDecoder::State::kNeedMore);
  ASSERT_EQ(d.Feed(Bytes("0800abc")), 7u);
  FrameDecoder::Frame f = d.Next();
  ASSERT_EQ(f.state, FrameDecoder::State::kFrame);
  EXPECT_EQ(Str(f.payload), "0800abc");
  EXPECT_EQ(d.Next().state, FrameDecoder::State::kNeedMore);
  ASSERT_EQ(d.Feed(Bytes("01234567890")), 11u);
  EXPECT_EQ(d.Next().state, FrameDecoder::State::kError);
}

TEST(FrameDecoder, ValidateOptions) {
  FrameDecoderOptions o;
  EXPECT_TRUE(FrameDecoder::Validate(o).ok());
  o.frame_bytes_max = 0;
  EXPECT_FALSE(FrameDecoder::Validate(o).ok());
  o.framing = Framing::kAscii4;
  o.frame_bytes_max = 10000;
  EXPECT_FALSE(FrameDecoder::Validate(o).ok());
  o.frame_bytes_max = 9999;
  EXPECT_TRUE(FrameDecoder::Validate(o).ok());
}

TEST(FrameDecoder, FeedTakesOnlyWhatFitsAndTheRestLater) {
  FrameDecoderOptions o;
  o.framing = Framing::kBinary2;
  o.frame_bytes_max = 8;
  o.read_slack_bytes = 0;  // capacity: 2 + 8 bytes
  FrameDecoder d(o);
  const std::string stream = Framed(Framing::kBinary2, "abc") + Framed(Framing::kBinary2, "defgh") +
                             Framed(Framing::kBinary2, "ij");
  std::string_view rest = stream;
  size_t taken = d.Feed(Bytes(rest));
  EXPECT_EQ(taken, 10u);  // 16 offered, only the buffer's capacity taken
  rest.remove_prefix(taken);
  std::vector<std::string> frames;
  for (int rounds = 0; rounds < 10; ++rounds) {
    for (FrameDecoder::Frame f = d.Next(); f.state == FrameDecoder::State::kFrame; f = d.Next()) {
      frames.push_back(Str(f.payload));
    }
    rest.remove_prefix(d.Feed(Bytes(rest)));
  }
  EXPECT_TRUE(rest.empty());
  EXPECT_EQ(frames, (std::vector<std::string>{"abc", "defgh", "ij"}));
}

}  // namespace
}  // namespace kytkin::iso8583
