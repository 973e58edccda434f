#include "iso8583/framing.h"

#include <cassert>
#include <cstring>
#include <limits>
#include <string>

namespace kytkin::iso8583 {

Result<Framing> ParseFraming(std::string_view name) {
  if (name == "binary2") return Framing::kBinary2;
  if (name == "ascii4") return Framing::kAscii4;
  if (name == "none") return Framing::kNone;
  return Status::InvalidArgument("unknown framing '" + std::string(name) +
                                 "' (binary2, ascii4, none)");
}

std::string_view FramingName(Framing framing) {
  switch (framing) {
    case Framing::kBinary2:
      return "binary2";
    case Framing::kAscii4:
      return "ascii4";
    case Framing::kNone:
      return "none";
  }
  return "?";
}

size_t FrameHeaderBytes(Framing framing) {
  switch (framing) {
    case Framing::kBinary2:
      return 2;
    case Framing::kAscii4:
      return 4;
    case Framing::kNone:
      return 0;
  }
  return 0;
}

size_t FramePayloadBytesLimit(Framing framing) {
  switch (framing) {
    case Framing::kBinary2:
      return 65535;
    case Framing::kAscii4:
      return 9999;
    case Framing::kNone:
      return std::numeric_limits<size_t>::max();
  }
  return 0;
}

Status WriteFrameHeader(Framing framing, size_t payload_bytes, std::span<uint8_t> out) {
  if (payload_bytes > FramePayloadBytesLimit(framing)) {
    return Status::InvalidArgument("frame of " + std::to_string(payload_bytes) +
                                   " bytes does not fit a " + std::string(FramingName(framing)) +
                                   " header");
  }
  if (out.size() < FrameHeaderBytes(framing)) {
    return Status::ResourceExhausted("no room for the frame header");
  }
  switch (framing) {
    case Framing::kBinary2:
      out[0] = static_cast<uint8_t>(payload_bytes >> 8);
      out[1] = static_cast<uint8_t>(payload_bytes);
      break;
    case Framing::kAscii4:
      for (size_t i = 4, n = payload_bytes; i-- > 0; n /= 10) {
        out[i] = static_cast<uint8_t>('0' + n % 10);
      }
      break;
    case Framing::kNone:
      break;
  }
  return Status::Ok();
}

Status FrameDecoder::Validate(const FrameDecoderOptions& options) {
  if (options.frame_bytes_max == 0 ||
      options.frame_bytes_max > FramePayloadBytesLimit(options.framing)) {
    return Status::InvalidArgument("frame_bytes_max must be in 1.." +
                                   std::to_string(FramePayloadBytesLimit(options.framing)) +
                                   " for framing " + std::string(FramingName(options.framing)));
  }
  constexpr size_t kBufferBytesMax = size_t{64} << 20;  // sanity bound on one connection
  if (options.frame_bytes_max + options.read_slack_bytes > kBufferBytesMax) {
    return Status::InvalidArgument("frame_bytes_max + read_slack_bytes above 64 MiB");
  }
  return Status::Ok();
}

FrameDecoder::FrameDecoder(const FrameDecoderOptions& options) : options_(options) {
  assert(Validate(options).ok());
  capacity_ =
      FrameHeaderBytes(options.framing) + options.frame_bytes_max + options.read_slack_bytes;
  buffer_ = std::make_unique<uint8_t[]>(capacity_);
}

void FrameDecoder::Compact() {
  if (begin_ == 0) return;
  if (begin_ != end_) std::memmove(buffer_.get(), buffer_.get() + begin_, end_ - begin_);
  end_ -= begin_;
  begin_ = 0;
}

void FrameDecoder::Fail(Status status) {
  error_ = std::move(status);
  begin_ = end_ = 0;
}

std::span<uint8_t> FrameDecoder::WritableSpan() {
  if (failed()) return {};
  // Compact lazily: only when the tail is smaller than a maximal frame, so that a burst of small
  // frames does not memmove on every read.
  if (capacity_ - end_ < options_.frame_bytes_max + FrameHeaderBytes(options_.framing)) Compact();
  return {buffer_.get() + end_, capacity_ - end_};
}

void FrameDecoder::Commit(size_t bytes) {
  assert(bytes <= capacity_ - end_);
  end_ += bytes;
}

size_t FrameDecoder::Feed(std::span<const uint8_t> bytes) {
  std::span<uint8_t> room = WritableSpan();
  size_t n = std::min(room.size(), bytes.size());
  if (n != 0) std::memcpy(room.data(), bytes.data(), n);
  Commit(n);
  return n;
}

FrameDecoder::Frame FrameDecoder::Next() {
  if (failed()) return {State::kError, {}};
  const uint8_t* base = buffer_.get();
  if (options_.framing == Framing::kNone) {
    if (begin_ == end_) return {State::kNeedMore, {}};
    std::span<const uint8_t> payload(base + begin_, end_ - begin_);
    if (payload.size() > options_.frame_bytes_max) {
      Fail(Status::ResourceExhausted("message of " + std::to_string(payload.size()) +
                                     " bytes over frame_bytes_max " +
                                     std::to_string(options_.frame_bytes_max)));
      return {State::kError, {}};
    }
    begin_ = end_;
    ++frames_;
    return {State::kFrame, payload};
  }
  const size_t header = FrameHeaderBytes(options_.framing);
  while (true) {
    const size_t available = end_ - begin_;
    if (available < header) return {State::kNeedMore, {}};
    const uint8_t* h = base + begin_;
    size_t length = 0;
    if (options_.framing == Framing::kBinary2) {
      length = (static_cast<size_t>(h[0]) << 8) | h[1];
    } else {
      for (size_t i = 0; i < 4; ++i) {
        if (h[i] < '0' || h[i] > '9') {
          Fail(Status::Corruption("frame header is not 4 ASCII digits"));
          return {State::kError, {}};
        }
        length = length * 10 + (h[i] - '0');
      }
    }
    if (length > options_.frame_bytes_max) {
      Fail(Status::ResourceExhausted("frame of " + std::to_string(length) +
                                     " bytes over frame_bytes_max " +
                                     std::to_string(options_.frame_bytes_max)));
      return {State::kError, {}};
    }
    if (length == 0) {  // keep-alive: skip and look at the next header
      begin_ += header;
      ++zero_length_frames_;
      continue;
    }
    if (available - header < length) return {State::kNeedMore, {}};
    std::span<const uint8_t> payload(h + header, length);
    begin_ += header + length;
    if (begin_ == end_) begin_ = end_ = 0;  // cheap reset keeps the next read at the start
    ++frames_;
    return {State::kFrame, payload};
  }
}

}  // namespace kytkin::iso8583
