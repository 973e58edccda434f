// IsoListener: an ISO 8583 TCP listener. It owns the acceptor and one session per connection;
// the authorization pipeline plugs in through IsoHandler.
//
// A connection lives on one io_context thread for its whole life (round-robin over the pool at
// accept). Each read takes every complete frame that arrived; each frame goes to the handler at
// once, so requests are pipelined: up to in_flight_max per connection are with the handler at a
// time and are answered in the order they complete (terminals match answers by STAN). Answers
// that complete while a write is in progress are coalesced into the next write, so a burst of
// completions costs one send(). At in_flight_max (or with too much unsent output) the
// connection stops reading until answers go out: back-pressure reaches the peer through TCP.
//
// Limits: connections_max (connection number max+1 is accepted and closed at once), idle
// timeout (nothing received and nothing in flight), frame_bytes_max (a larger announced frame,
// or a malformed length header, closes the connection: the stream cannot be re-synchronised).
// A zero-length frame is a keep-alive: counted, never handed to the handler. Every error
// branch has a counter (metrics prefix kytkin_iso_, label listener=<name>).
//
// Memory: each session allocates its buffers as it goes and keeps them; after warm-up a
// request costs no heap allocation on this path (the request is copied into a reused slot,
// the answer is written into a reused buffer). Completions from other threads are batched into
// one post per burst.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "switch/config.h"
#include "switch/metrics.h"

namespace kytkin {

class IsoSession;
struct IsoListenerState;

// One request as the pipeline sees it.
struct IsoRequest {
  // The message bytes of one frame, length header stripped; not parsed. Valid until the
  // completion for this request finishes (it lives in the connection's request slot).
  std::span<const uint8_t> message;
  // Unique per process; for logs and for keeping per-connection state in the pipeline.
  uint64_t connection_id = 0;
  // The listener's name and dialect (IsoListenerOptions), for parsing and metrics labels.
  std::string_view listener;
  std::string_view dialect;
  // When the read that brought this request completed: std::chrono::steady_clock, in
  // microseconds since its epoch (the clock kytkin::SystemClock::NowMonotonicMicros() reads),
  // for the pipeline's stage latencies. One clock read per read, shared by its frames.
  int64_t received_monotonic_us = 0;
};

enum class IsoReply : uint8_t {
  kSend,     // write response() as one frame
  kNoReply,  // answer nothing (e.g. an unreadable frame the handler only counted)
  kClose,    // write what is already queued, then close the connection
};

// The right (and duty) to answer one request. Move-only. Finish it exactly once, from any
// thread; the session posts the answer back to its own io_context. A completion that finishes
// after its connection closed is ignored (its slot is freed, nothing is written). Destroying an
// unfinished completion finishes it with kNoReply, so a dropped request never leaks its slot.
class IsoCompletion {
 public:
  IsoCompletion() = default;
  IsoCompletion(IsoCompletion&& other) noexcept = default;
  IsoCompletion& operator=(IsoCompletion&& other) noexcept;
  ~IsoCompletion();
  IsoCompletion(const IsoCompletion&) = delete;
  IsoCompletion& operator=(const IsoCompletion&) = delete;

  // The buffer to write the response message into (without length header); empty on entry,
  // its capacity reused across requests. REQUIRES: valid().
  std::vector<uint8_t>& response();
  // The request message again (the same bytes as IsoRequest::message). REQUIRES: valid().
  std::span<const uint8_t> request() const;
  // Sends response() as one frame. Same as Finish(IsoReply::kSend).
  void Send() { Finish(IsoReply::kSend); }
  // REQUIRES: valid(). Afterwards valid() is false.
  void Finish(IsoReply reply);
  // Hands the answer to the connection's own thread: `respond` runs there, once, with this
  // request's completion (valid again; finish it there or later, or dropping it finishes it
  // with kNoReply). For a pipeline whose slow step completes on a foreign thread (the ledger's
  // serial completion thread): building and packing the answer then costs the connection's thread,
  // not that one. When the connection closed meanwhile, `respond` is not called.
  // REQUIRES: valid(). Afterwards valid() is false.
  void Defer(std::function<void(IsoCompletion)> respond);
  bool valid() const { return session_ != nullptr; }

 private:
  friend class IsoSession;
  IsoCompletion(std::shared_ptr<IsoSession> session, uint32_t slot)
      : session_(std::move(session)), slot_(slot) {}

  std::shared_ptr<IsoSession> session_;
  uint32_t slot_ = 0;
};

// The pipeline. Handle() runs on the connection's io_context thread and must not block: do
// quick work inline (parse, validate) and finish `done` later from another thread for slow work
// (the ledger's group commit).
class IsoHandler {
 public:
  virtual ~IsoHandler() = default;
  virtual void Handle(const IsoRequest& request, IsoCompletion done) = 0;
};

// After a failed accept() (out of file descriptors), wait this long before the next one.
inline constexpr int kAcceptRetryMs = 10;

class IsoListener {
 public:
  // Binds and listens on options.listen (port 0 picks a free port, see port()); accepting
  // starts with Start(). Fails (naming the address) when the address cannot be bound.
  // The acceptor runs on `accept_context`; connections are spread over `session_contexts`
  // round-robin. REQUIRES: session_contexts not empty; every context, `handler` and `metrics`
  // outlive the listener and every completion it handed out (stop the handler before the pool).
  static Result<std::unique_ptr<IsoListener>> Open(
      const IsoListenerOptions& options, boost::asio::io_context& accept_context,
      std::span<boost::asio::io_context* const> session_contexts, IsoHandler& handler,
      metrics::Registry& metrics);
  ~IsoListener();

  // The port actually bound.
  uint16_t port() const { return port_; }
  const IsoListenerOptions& options() const;

  // All of these are safe from any thread; they post to the right io_context. The listener
  // must outlive what StopAccepting() posts: destroy it only after the accept context stopped
  // (the destructor closes the acceptor, aborting a pending accept).
  void Start();
  // Closes the acceptor: no new connections.
  void StopAccepting();
  // Every connection stops reading, answers what is in flight, then closes.
  void Drain();
  // Every connection closes now; in-flight answers are dropped.
  void CloseAll();

  // Open connections, and requests with the handler, over all connections of this listener.
  int64_t connections() const;
  int64_t in_flight() const;

 private:
  IsoListener(std::shared_ptr<IsoListenerState> state, boost::asio::io_context& accept_context,
              std::span<boost::asio::io_context* const> session_contexts)
      : state_(std::move(state)),
        acceptor_(accept_context),
        accept_retry_timer_(accept_context),
        session_contexts_(session_contexts.begin(), session_contexts.end()) {}
  void DoAccept();
  void RetryAcceptLater();

  std::shared_ptr<IsoListenerState> state_;
  boost::asio::ip::tcp::acceptor acceptor_;       // used on the accept context only
  boost::asio::steady_timer accept_retry_timer_;  // accept context only
  std::vector<boost::asio::io_context*> session_contexts_;
  size_t next_context_ = 0;  // accept context only
  uint16_t port_ = 0;
};

}  // namespace kytkin
