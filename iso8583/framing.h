// Framing: how ISO 8583 messages are delimited on a TCP stream.
//
//   kBinary2  2-byte big-endian binary length, then the message ("binary2"; jPOS NACChannel style)
//   kAscii4   4 ASCII decimal digits, then the message ("ascii4"; "0123" + 123 bytes)
//   kNone     no header ("none"): every chunk handed to the decoder is one message. Only sound for
//             tools, captures and datagram-like links where one read is one message.
//
// The header counts only the message bytes, never itself. A zero-length frame (header "0000" or
// 00 00) carries no message: the decoder skips it and counts it (peers use it as a keep-alive).
//
// FrameDecoder is incremental: a socket session reads whatever arrived straight into the
// decoder's buffer (or Feed()s it), then calls Next() until it returns kNeedMore. One allocation
// per decoder, at construction; none per frame. A frame above frame_bytes_max or a malformed
// ASCII header puts the decoder in a failed state (the stream cannot be re-synchronised): the
// session should close that one connection.
//
// Thread safety: none; one decoder per connection.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

#include "core/status.h"

namespace kytkin::iso8583 {

enum class Framing : uint8_t { kBinary2, kAscii4, kNone };

// "binary2" | "ascii4" | "none".
Result<Framing> ParseFraming(std::string_view name);
std::string_view FramingName(Framing framing);

// 2, 4 or 0.
size_t FrameHeaderBytes(Framing framing);
// The largest message a header can describe: 65535 (binary2), 9999 (ascii4), unlimited (none).
size_t FramePayloadBytesLimit(Framing framing);

// Writes the header for a message of `payload_bytes` into the first FrameHeaderBytes() bytes of
// `out`. InvalidArgument when the length does not fit the header; ResourceExhausted when `out` is
// too small. Typical use: reserve the header bytes, Pack() after them, then write the header.
Status WriteFrameHeader(Framing framing, size_t payload_bytes, std::span<uint8_t> out);

struct FrameDecoderOptions {
  Framing framing = Framing::kBinary2;
  // Largest accepted message, in bytes, header excluded. Default 8192; a bigger frame fails the
  // decoder. Must be > 0 and <= FramePayloadBytesLimit(framing).
  size_t frame_bytes_max = 8192;
  // Buffer capacity in bytes beyond one maximal frame, so that one read can bring many small
  // frames. Default 16384.
  size_t read_slack_bytes = 16384;
};

class FrameDecoder {
 public:
  enum class State : uint8_t {
    kFrame,     // Next() returned a complete frame in `payload`
    kNeedMore,  // no complete frame buffered: read more
    kError,     // failed: frame too large or bad header; see error(). Close the connection.
  };
  struct Frame {
    State state = State::kNeedMore;
    // The message bytes (header stripped), pointing into the decoder's buffer. Next() never
    // moves buffered bytes, so every payload from a run of Next() calls stays valid until the
    // next WritableSpan() or Feed() (a session can parse a whole read's frames, then answer).
    std::span<const uint8_t> payload;
  };

  // REQUIRES: options valid (asserts; validate config with Validate() at startup).
  explicit FrameDecoder(const FrameDecoderOptions& options);
  static Status Validate(const FrameDecoderOptions& options);

  // Zero-copy read path: a writable span of free buffer space (compacting consumed bytes first).
  // Read into it, then Commit(bytes_read). The span is empty only in the failed state.
  std::span<uint8_t> WritableSpan();
  void Commit(size_t bytes);

  // Copying path: appends as much of `bytes` as fits and returns how many were taken; call Next()
  // until kNeedMore and Feed the rest. Returns 0 only when failed or the buffer is full of
  // complete frames not yet taken by Next().
  size_t Feed(std::span<const uint8_t> bytes);

  // The next complete frame, if any. With Framing::kNone all buffered bytes are one frame.
  Frame Next();

  bool failed() const { return !error_.ok(); }
  const Status& error() const { return error_; }
  size_t buffered_bytes() const { return end_ - begin_; }
  uint64_t zero_length_frames() const { return zero_length_frames_; }
  uint64_t frames() const { return frames_; }

 private:
  void Compact();
  void Fail(Status status);

  FrameDecoderOptions options_;
  std::unique_ptr<uint8_t[]> buffer_;
  size_t capacity_ = 0;
  size_t begin_ = 0;  // first unconsumed byte
  size_t end_ = 0;    // one past the last buffered byte
  Status error_;
  uint64_t zero_length_frames_ = 0;
  uint64_t frames_ = 0;
};

}  // namespace kytkin::iso8583
