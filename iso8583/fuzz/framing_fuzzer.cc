// libFuzzer target: FrameDecoder fed in arbitrary chunk sizes.
// Byte 0 picks the framing and the maximum frame size, byte 1 the chunk size; the rest is the
// stream. Invariants: every frame is within frame_bytes_max, frames + skipped headers never
// consume more bytes than were fed, and the chunking does not change the frames.
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string>
#include <vector>

#include "iso8583/framing.h"

using namespace kytkin;
using namespace kytkin::iso8583;

namespace {

std::vector<std::string> Run(const FrameDecoderOptions& o, std::span<const uint8_t> stream,
                             size_t chunk, bool* failed) {
  FrameDecoder d(o);
  std::vector<std::string> frames;
  size_t consumed = 0;
  while (true) {
    size_t fed = 0;
    if (consumed < stream.size()) {
      fed = d.Feed(stream.subspan(consumed, std::min(chunk, stream.size() - consumed)));
      consumed += fed;
    }
    bool progressed = false;
    for (FrameDecoder::Frame f = d.Next(); f.state == FrameDecoder::State::kFrame; f = d.Next()) {
      if (f.payload.size() > o.frame_bytes_max || f.payload.empty()) std::abort();
      frames.emplace_back(reinterpret_cast<const char*>(f.payload.data()), f.payload.size());
      progressed = true;
    }
    if (d.failed() || consumed == stream.size()) break;
    // The decoder must always either take bytes or hand out a frame, or the session would hang.
    if (fed == 0 && !progressed) std::abort();
  }
  *failed = d.failed();
  return frames;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  FrameDecoderOptions o;
  o.framing = (data[0] & 1) ? Framing::kAscii4 : Framing::kBinary2;
  o.frame_bytes_max = 1 + (data[0] >> 1) * 8;  // 1..1017
  o.read_slack_bytes = data[0] & 2 ? 0 : 64;
  const size_t chunk = 1 + data[1] % 64;
  std::span<const uint8_t> stream(data + 2, size - 2);
  bool failed_small = false, failed_whole = false;
  std::vector<std::string> small = Run(o, stream, chunk, &failed_small);
  std::vector<std::string> whole = Run(o, stream, stream.size() + 1, &failed_whole);
  if (failed_small != failed_whole) std::abort();
  if (!failed_small && small != whole) std::abort();
  size_t total = 0;
  for (const std::string& f : small) total += f.size() + FrameHeaderBytes(o.framing);
  if (total > stream.size()) std::abort();
  return 0;
}
