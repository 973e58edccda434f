// IssuerLink: kytkin's client side of one issuer host (one link id of the routing table, e.g.
// "nb-a"), with a MUX over its connections.
//
// What it owns and promises:
//  - `connections` TCP connections to the host. Each connects, sends a sign-on (0800 DE 70 001)
//    and counts as up only after a 0810 with 00. It sends an echo (0800 DE 70 301) every
//    echo_interval_ms; echo_failures_max echoes in a row unanswered (or not 00) close it. A closed
//    connection reconnects after an exponential backoff with jitter (reconnect_initial_ms doubling
//    up to reconnect_max_ms, each wait drawn from [wait/2, wait]).
//  - The link is up while at least one connection is up; on_state_change reports each change.
//  - Send(): the request is re-packed in the link's dialect with a STAN unique among the link's
//    requests in flight (DE 11 is replaced; the caller restores the terminal's own STAN in the
//    answer). The answer is matched on key_fields (default DE 41 + DE 11). Each request ends in
//    exactly one IssuerReply:
//      kAnswered   the host answered before the deadline (response valid during the callback)
//      kDeadline   request_deadline_ms passed first; an answer arriving later is counted as late
//                  and handed to on_late_response (the pipeline reverses what it approved)
//      kLinkDown   no connection was up, or the connection carrying it closed before an answer
//      kFull       every up connection already has in_flight_max requests: refused at once, so
//                  the terminal gets 91 now instead of waiting in an unbounded queue
//  - Every error branch has a counter (stats()).
//
// Threading: the link and all its connections live on one io_context (one of the server's
// workers). Send() may be called from any thread (it copies the request and posts); the callbacks
// run on the link's io_context thread. Stop() from any thread other than the link's.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "core/status.h"
#include "iso8583/framing.h"
#include "iso8583/message.h"

namespace kytkin {

struct IssuerLinkOptions {
  // The routing table's link id ("nb-a"): 1-32 of [A-Za-z0-9_.-]. Required.
  std::string id;
  // The issuer host. Required (port 1-65535).
  std::string host = "127.0.0.1";
  uint16_t port = 0;
  // Built-in dialect name (iso8583/dialect.h) and framing of the link. Default iso87-ascii,
  // binary2.
  std::string dialect = "iso87-ascii";
  iso8583::Framing framing = iso8583::Framing::kBinary2;
  // TCP connections to the host. Range 1..64, default 1.
  uint32_t connections = 1;
  // Requests in flight per connection at most; beyond, Send answers kFull. Range 1..4096,
  // default 64.
  uint32_t in_flight_max = 64;
  // Time the host has to answer a request, sign-on or echo. Milliseconds, range 1..600000,
  // default 2000.
  uint32_t request_deadline_ms = 2000;
  // Interval between echoes on an idle-or-busy connection. Milliseconds, 0 disables, default
  // 5000.
  uint32_t echo_interval_ms = 5000;
  // Consecutive failed echoes that close a connection. Range 1..100, default 2.
  uint32_t echo_failures_max = 2;
  // Reconnect backoff: the first wait, doubled per failed attempt up to the maximum.
  // Milliseconds; defaults 100 and 10000; 1 <= initial <= max <= 3600000.
  uint32_t reconnect_initial_ms = 100;
  uint32_t reconnect_max_ms = 10'000;
  // Fields whose values match an answer to its request, in this order. Default DE 41 + DE 11.
  std::vector<int> key_fields = {41, 11};
  // DE 41 of the link's own network messages (sign-on, echo). Default "KYTKINSW".
  std::string terminal_id = "KYTKINSW";
  // Largest accepted answer, bytes (without the frame header). Default 8192.
  uint32_t frame_bytes_max = 8192;
  // Seed of the backoff jitter. Default 1.
  uint64_t seed = 1;
};

// InvalidArgument naming the field ("issuer_link nb-a: in_flight_max ...").
Status ValidateIssuerLinkOptions(const IssuerLinkOptions& options);

enum class IssuerOutcome : uint8_t { kAnswered, kDeadline, kLinkDown, kFull };
std::string_view IssuerOutcomeName(IssuerOutcome outcome);  // "answered", "deadline", ...

struct IssuerReply {
  IssuerOutcome outcome = IssuerOutcome::kLinkDown;
  // kAnswered only: the host's answer, valid only during the callback. Its DE 11 is the link's
  // STAN (`stan`), not the caller's.
  const iso8583::Message* response = nullptr;
  // The STAN the link gave the request (0 when it was never sent).
  uint32_t stan = 0;
  // From Send() to the answer (or to the deadline / loss). Microseconds.
  int64_t latency_us = 0;
};
using IssuerCallback = std::function<void(const IssuerReply& reply)>;

// Counters since start; read from any thread.
struct IssuerLinkStats {
  uint64_t sent = 0;          // requests written (not counting sign-on and echo)
  uint64_t answered = 0;      // kAnswered
  uint64_t deadlines = 0;     // kDeadline
  uint64_t late = 0;          // answers after their deadline
  uint64_t unmatched = 0;     // answers matching no request, not even a late one
  uint64_t lost = 0;          // kLinkDown for a request that was sent
  uint64_t refused_down = 0;  // kLinkDown at once: no connection up
  uint64_t refused_full = 0;  // kFull
  uint64_t connects = 0;      // TCP connections established
  uint64_t connect_failures = 0;
  uint64_t sign_ons = 0;  // successful sign-ons
  uint64_t sign_on_failures = 0;
  uint64_t echoes = 0;         // successful echoes
  uint64_t echo_failures = 0;  // echoes unanswered or not 00
  uint64_t disconnects = 0;    // connections closed (by the host, an error, or echo failures)
  uint64_t bad_frames = 0;     // answers that did not parse, or a broken stream
};

class IssuerLink {
 public:
  // REQUIRES: options valid (ValidateIssuerLinkOptions). `io` outlives the link. Nothing runs
  // until Start().
  static Result<std::unique_ptr<IssuerLink>> Create(const IssuerLinkOptions& options,
                                                    boost::asio::io_context& io);
  ~IssuerLink();  // REQUIRES: Stop() called and the io_context no longer runs its handlers, or
                  // the io_context already stopped.
  IssuerLink(const IssuerLink&) = delete;
  IssuerLink& operator=(const IssuerLink&) = delete;

  // Called on the link's thread whenever the link goes up or down.
  void set_on_state_change(std::function<void(const std::string& link_id, bool up)> f);
  // Called on the link's thread with an answer that came after its request's deadline.
  void set_on_late_response(std::function<void(const iso8583::Message& response)> f);

  // Connects every connection (posted to the io_context).
  void Start();
  // Closes every connection and ends every request in flight with kLinkDown; waits until done
  // when called from another thread while the io_context runs.
  void Stop();

  // Sends `request` (any dialect; copied) and calls `done` exactly once on the link's thread.
  void Send(const iso8583::Message& request, IssuerCallback done);

  const std::string& id() const;
  bool up() const;  // any thread
  IssuerLinkStats stats() const;

  struct Impl;

 private:
  explicit IssuerLink(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

}  // namespace kytkin
