#include "switch/iso_listener.h"

#include "iso8583/framing.h"

#include <algorithm>
#include <atomic>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <cassert>
#include <chrono>
#include <cstring>
#include <mutex>
#include <unordered_map>

namespace kytkin {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using SteadyClock = std::chrono::steady_clock;

namespace {

// Unsent answers beyond this stop reading: a peer that pipelines but never reads cannot make
// the session buffer without bound. Bytes.
constexpr size_t kOutputBytesMax = 1 << 20;
// Free buffer space kept beyond one maximal frame, so that one read brings many small frames.
constexpr size_t kReadSlackBytes = 16 * 1024;

iso8583::FrameDecoderOptions DecoderOptions(const IsoListenerOptions& options) {
  iso8583::FrameDecoderOptions o;
  o.framing = options.framing;
  o.frame_bytes_max = options.frame_bytes_max;
  o.read_slack_bytes = kReadSlackBytes;
  return o;
}

std::atomic<uint64_t> next_connection_id{1};

int64_t MonotonicMicros(SteadyClock::time_point t) {
  return std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
}

}  // namespace

// What the listener and all of its sessions share. Sessions hold it by shared_ptr, so it
// outlives the listener object while completions are still out. It holds no I/O object: a
// session on one io_context must not keep another context's object alive.
struct IsoListenerState {
  IsoListenerState(const IsoListenerOptions& o, IsoHandler& h, metrics::Registry& m)
      : options(o),
        handler(h),
        labels{{"listener", o.name}},
        connections(m.GetGauge("kytkin_iso_connections", "Open ISO 8583 connections.", labels)),
        in_flight(m.GetGauge("kytkin_iso_in_flight",
                             "ISO 8583 requests with the pipeline, not yet answered.", labels)),
        accepted(m.GetCounter("kytkin_iso_connections_accepted_total",
                              "ISO 8583 connections accepted.", labels)),
        refused(m.GetCounter("kytkin_iso_connections_refused_total",
                             "ISO 8583 connections closed at once: connections_max reached.",
                             labels)),
        accept_errors(m.GetCounter("kytkin_iso_accept_errors_total",
                                   "Failed accept() calls on an ISO 8583 listener.", labels)),
        requests(m.GetCounter("kytkin_iso_requests_total",
                              "ISO 8583 frames handed to the pipeline.", labels)),
        responses(
            m.GetCounter("kytkin_iso_responses_total", "ISO 8583 answers queued to send.", labels)),
        no_replies(m.GetCounter("kytkin_iso_no_replies_total",
                                "ISO 8583 requests the pipeline finished without an answer.",
                                labels)),
        dropped_replies(m.GetCounter(
            "kytkin_iso_dropped_replies_total",
            "ISO 8583 answers that completed after their connection had closed.", labels)),
        oversize_replies(m.GetCounter(
            "kytkin_iso_oversize_replies_total",
            "ISO 8583 answers dropped: longer than the listener's framing can announce.", labels)),
        zero_length_frames(m.GetCounter("kytkin_iso_zero_length_frames_total",
                                        "Zero-length (keep-alive) ISO 8583 frames.", labels)),
        reads(m.GetCounter("kytkin_iso_reads_total", "read() calls on ISO 8583 connections.",
                           labels)),
        writes(m.GetCounter("kytkin_iso_writes_total", "write() calls on ISO 8583 connections.",
                            labels)),
        latency(m.GetHistogram("kytkin_iso_request_latency_microseconds",
                               "ISO 8583 request read to answer queued (or dropped), whole "
                               "pipeline included.",
                               labels)),
        read_pauses(m.GetCounter("kytkin_iso_read_pauses_total",
                                 "Times a connection stopped reading: in_flight_max or unsent "
                                 "output reached.",
                                 labels)) {
    for (std::string_view reason : {"oversize", "bad_header", "idle_timeout", "io"}) {
      labels_with_reason.push_back(labels);
      labels_with_reason.back().emplace_back("reason", reason);
      closed_by_error.push_back(&m.GetCounter("kytkin_iso_connection_errors_total",
                                              "ISO 8583 connections closed by kytkin, by reason.",
                                              labels_with_reason.back()));
    }
  }

  metrics::Counter& ErrorCounter(std::string_view reason) {
    static constexpr std::string_view kReasons[] = {"oversize", "bad_header", "idle_timeout", "io"};
    for (size_t i = 0; i < std::size(kReasons); ++i) {
      if (kReasons[i] == reason) return *closed_by_error[i];
    }
    return *closed_by_error.back();
  }

  const IsoListenerOptions options;
  IsoHandler& handler;

  metrics::Labels labels;
  std::vector<metrics::Labels> labels_with_reason;
  metrics::Gauge& connections;
  metrics::Gauge& in_flight;
  metrics::Counter& accepted;
  metrics::Counter& refused;
  metrics::Counter& accept_errors;
  metrics::Counter& requests;
  metrics::Counter& responses;
  metrics::Counter& no_replies;
  metrics::Counter& dropped_replies;
  metrics::Counter& oversize_replies;
  metrics::Counter& zero_length_frames;
  metrics::Counter& reads;
  metrics::Counter& writes;
  metrics::Histogram& latency;
  metrics::Counter& read_pauses;
  std::vector<metrics::Counter*> closed_by_error;

  // Counted here as well as in the gauges: the gauges may be shared by listeners of a
  // registry, these are this listener's alone.
  std::atomic<int64_t> open_connections{0};
  std::atomic<int64_t> open_in_flight{0};

  std::mutex sessions_mu;
  std::unordered_map<uint64_t, std::weak_ptr<IsoSession>> sessions;  // guarded by sessions_mu
};

class IsoSession : public std::enable_shared_from_this<IsoSession> {
 public:
  // One request's buffers; reused, so their capacity stays after warm-up.
  struct Slot {
    std::vector<uint8_t> request;
    std::vector<uint8_t> response;
    SteadyClock::time_point received;  // when the read that brought the request completed
    // Set by IsoCompletion::Defer (any thread, before its Complete): runs on this thread.
    std::function<void(IsoCompletion)> deferred;
  };

  IsoSession(asio::io_context& context, tcp::socket socket, std::shared_ptr<IsoListenerState> state)
      : context_(context),
        socket_(std::move(socket)),
        idle_timer_(socket_.get_executor()),
        state_(std::move(state)),
        id_(next_connection_id.fetch_add(1, std::memory_order_relaxed)),
        frames_(DecoderOptions(state_->options)),
        slots_(state_->options.in_flight_max) {
    free_slots_.reserve(slots_.size());
    for (uint32_t i = static_cast<uint32_t>(slots_.size()); i > 0; --i)
      free_slots_.push_back(i - 1);
    completed_.reserve(slots_.size());
    completed_swap_.reserve(slots_.size());
  }

  ~IsoSession() {
    if (!closed_) ReleaseCounts();
  }

  uint64_t id() const { return id_; }
  tcp::socket::executor_type executor() { return socket_.get_executor(); }

  void Start() {
    boost::system::error_code ignored;
    socket_.set_option(tcp::no_delay(true), ignored);
    last_activity_ = SteadyClock::now();
    if (state_->options.idle_timeout_ms > 0) {
      ArmIdleTimer(std::chrono::milliseconds(state_->options.idle_timeout_ms));
    }
    Pump();
  }

  // Any thread.
  void Complete(uint32_t slot, IsoReply reply) {
    if (context_.get_executor().running_in_this_thread()) {
      OnComplete(slot, reply);
      return;
    }
    bool post = false;
    {
      std::lock_guard lock(completed_mu_);
      completed_.push_back({slot, reply});  // capacity in_flight_max: never reallocates
      post = !completion_posted_;
      completion_posted_ = true;
    }
    if (post) {
      asio::post(socket_.get_executor(), [self = shared_from_this()] { self->OnCompletedBatch(); });
    }
  }

  Slot& slot(uint32_t index) { return slots_[index]; }

  // Own thread.
  void Drain() {
    draining_ = true;
    MaybeFinish();
  }

  void Close(std::string_view error_reason = {}) {
    if (closed_) return;
    closed_ = true;
    if (!error_reason.empty()) state_->ErrorCounter(error_reason).Increment();
    boost::system::error_code ignored;
    idle_timer_.cancel();
    socket_.shutdown(tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
    ReleaseCounts();
    std::lock_guard lock(state_->sessions_mu);
    state_->sessions.erase(id_);
  }

 private:
  struct Completed {
    uint32_t slot;
    IsoReply reply;
  };

  void ReleaseCounts() {
    state_->connections.Decrement();
    state_->open_connections.fetch_sub(1, std::memory_order_relaxed);
  }

  int64_t in_flight() const { return static_cast<int64_t>(slots_.size() - free_slots_.size()); }

  // Takes buffered frames, reads, and writes, as far as the limits allow. Re-entrant calls
  // (a handler finishing inline) return at once; the outer call picks their work up.
  void Pump() {
    if (pumping_ || closed_) return;
    pumping_ = true;
    ProcessFrames();
    pumping_ = false;
    if (closed_) return;
    StartWrite();
    StartRead();
    MaybeFinish();
  }

  bool ReadingAllowed() const { return !closed_ && !draining_ && !closing_ && !read_eof_; }
  bool HasRoom() const { return !free_slots_.empty() && out_pending_.size() < kOutputBytesMax; }

  void ProcessFrames() {
    while (ReadingAllowed() && HasRoom()) {
      iso8583::FrameDecoder::Frame frame = frames_.Next();
      if (frame.state == iso8583::FrameDecoder::State::kNeedMore) break;
      if (frame.state == iso8583::FrameDecoder::State::kError) {
        // ResourceExhausted: announced length above frame_bytes_max; otherwise a header that
        // is not a length. Either way the stream cannot be re-synchronised.
        Close(frames_.error().code() == Status::Code::kResourceExhausted ? "oversize"
                                                                         : "bad_header");
        return;
      }
      const uint32_t index = free_slots_.back();
      free_slots_.pop_back();
      Slot& s = slots_[index];
      s.request.assign(frame.payload.begin(), frame.payload.end());
      s.response.clear();
      state_->requests.Increment();
      state_->in_flight.Increment();
      state_->open_in_flight.fetch_add(1, std::memory_order_relaxed);
      s.received = last_activity_;
      const IsoRequest request{s.request, id_, state_->options.name, state_->options.dialect,
                               MonotonicMicros(last_activity_)};
      state_->handler.Handle(request, IsoCompletion(shared_from_this(), index));
    }
    if (frames_.zero_length_frames() != zero_length_seen_) {
      state_->zero_length_frames.Increment(frames_.zero_length_frames() - zero_length_seen_);
      zero_length_seen_ = frames_.zero_length_frames();
    }
  }

  void StartRead() {
    if (reading_ || !ReadingAllowed()) return;
    if (!HasRoom()) {
      if (!paused_) state_->read_pauses.Increment();
      paused_ = true;
      return;
    }
    paused_ = false;
    std::span<uint8_t> space = frames_.WritableSpan();
    if (space.empty()) {
      // Only when the buffer is full of frames nobody took, which HasRoom() rules out.
      Close("io");
      return;
    }
    reading_ = true;
    socket_.async_read_some(asio::buffer(space.data(), space.size()),
                            [self = shared_from_this()](boost::system::error_code ec, size_t n) {
                              self->OnRead(ec, n);
                            });
  }

  void OnRead(boost::system::error_code ec, size_t bytes) {
    reading_ = false;
    if (closed_) return;
    state_->reads.Increment();
    if (ec) {
      if (ec == asio::error::eof) {
        // The peer finished sending; answer what is in flight, then close.
        read_eof_ = true;
        MaybeFinish();
      } else {
        Close("io");
      }
      return;
    }
    frames_.Commit(bytes);
    last_activity_ = SteadyClock::now();
    Pump();
  }

  void OnCompletedBatch() {
    {
      std::lock_guard lock(completed_mu_);
      completed_swap_.swap(completed_);
      completion_posted_ = false;
    }
    const bool outer = !pumping_;
    pumping_ = true;  // one write for the whole batch
    for (const Completed& c : completed_swap_) OnComplete(c.slot, c.reply);
    completed_swap_.clear();
    if (outer) {
      pumping_ = false;
      Pump();
    }
  }

  void OnComplete(uint32_t index, IsoReply reply) {
    if (slots_[index].deferred) {
      std::function<void(IsoCompletion)> respond = std::move(slots_[index].deferred);
      slots_[index].deferred = nullptr;
      if (!closed_) {
        // Its Finish comes back here (same thread), without `deferred`.
        respond(IsoCompletion(shared_from_this(), index));
        return;
      }
      reply = IsoReply::kNoReply;  // counted below as a dropped reply
    }
    state_->in_flight.Decrement();
    state_->open_in_flight.fetch_sub(1, std::memory_order_relaxed);
    Slot& s = slots_[index];
    state_->latency.Observe(static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(SteadyClock::now() - s.received)
            .count()));
    if (closed_) {
      state_->dropped_replies.Increment();
    } else if (reply == IsoReply::kSend) {
      if (AppendFrame(s.response)) {
        state_->responses.Increment();
      } else {
        state_->oversize_replies.Increment();
      }
    } else if (reply == IsoReply::kNoReply) {
      state_->no_replies.Increment();
    } else {
      closing_ = true;
    }
    free_slots_.push_back(index);
    Pump();
  }

  // Queues one framed answer; false when the framing cannot carry it (the pipeline built an
  // answer longer than the header can announce: 9999 bytes for ascii4, 65535 for binary2).
  bool AppendFrame(const std::vector<uint8_t>& message) {
    const size_t header = iso8583::FrameHeaderBytes(state_->options.framing);
    const size_t at = out_pending_.size();
    out_pending_.resize(at + header);
    if (!iso8583::WriteFrameHeader(state_->options.framing, message.size(),
                                   std::span<uint8_t>(out_pending_).subspan(at))
             .ok()) {
      out_pending_.resize(at);
      return false;
    }
    out_pending_.insert(out_pending_.end(), message.begin(), message.end());
    return true;
  }

  void StartWrite() {
    if (writing_ || closed_ || out_pending_.empty()) return;
    writing_ = true;
    out_writing_.swap(out_pending_);
    state_->writes.Increment();
    asio::async_write(
        socket_, asio::buffer(out_writing_),
        [self = shared_from_this()](boost::system::error_code ec, size_t) { self->OnWrite(ec); });
  }

  void OnWrite(boost::system::error_code ec) {
    writing_ = false;
    out_writing_.clear();
    if (closed_) return;
    if (ec) {
      Close("io");
      return;
    }
    Pump();
  }

  // Closes a connection that has nothing left to do: told to close after the queued output,
  // or draining / at end of input with nothing in flight.
  void MaybeFinish() {
    if (closed_ || writing_ || !out_pending_.empty()) return;
    if (closing_ || ((draining_ || read_eof_) && in_flight() == 0)) Close();
  }

  void ArmIdleTimer(SteadyClock::duration after) {
    idle_timer_.expires_after(after);
    idle_timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (!ec) self->OnIdleTimer();
    });
  }

  void OnIdleTimer() {
    if (closed_) return;
    const auto timeout = std::chrono::milliseconds(state_->options.idle_timeout_ms);
    const auto now = SteadyClock::now();
    if (in_flight() > 0 || writing_) {
      // Busy is not idle: look again a full timeout from now.
      last_activity_ = now;
      ArmIdleTimer(timeout);
      return;
    }
    const auto idle = now - last_activity_;
    if (idle >= timeout) {
      Close("idle_timeout");
      return;
    }
    ArmIdleTimer(timeout - idle);
  }

  asio::io_context& context_;  // the one thread this session runs on
  tcp::socket socket_;
  asio::steady_timer idle_timer_;
  std::shared_ptr<IsoListenerState> state_;
  const uint64_t id_;
  iso8583::FrameDecoder frames_;
  uint64_t zero_length_seen_ = 0;

  std::vector<Slot> slots_;
  std::vector<uint32_t> free_slots_;
  std::vector<uint8_t> out_pending_;  // answers not yet handed to the socket
  std::vector<uint8_t> out_writing_;  // the bytes of the write in progress

  std::mutex completed_mu_;
  std::vector<Completed> completed_;  // guarded by completed_mu_
  bool completion_posted_ = false;    // guarded by completed_mu_
  std::vector<Completed> completed_swap_;

  SteadyClock::time_point last_activity_;
  bool reading_ = false;
  bool writing_ = false;
  bool pumping_ = false;
  bool paused_ = false;
  bool read_eof_ = false;
  bool draining_ = false;
  bool closing_ = false;
  bool closed_ = false;
};

// --- IsoCompletion -------------------------------------------------------------------------

IsoCompletion& IsoCompletion::operator=(IsoCompletion&& other) noexcept {
  if (this != &other) {
    if (valid()) Finish(IsoReply::kNoReply);
    session_ = std::move(other.session_);
    slot_ = other.slot_;
  }
  return *this;
}

IsoCompletion::~IsoCompletion() {
  if (valid()) Finish(IsoReply::kNoReply);
}

std::vector<uint8_t>& IsoCompletion::response() {
  assert(valid());
  return session_->slot(slot_).response;
}

std::span<const uint8_t> IsoCompletion::request() const {
  assert(valid());
  return session_->slot(slot_).request;
}

void IsoCompletion::Finish(IsoReply reply) {
  assert(valid());
  std::shared_ptr<IsoSession> session = std::move(session_);
  session_.reset();
  session->Complete(slot_, reply);
}

void IsoCompletion::Defer(std::function<void(IsoCompletion)> respond) {
  assert(valid());
  std::shared_ptr<IsoSession> session = std::move(session_);
  session_.reset();
  session->slot(slot_).deferred = std::move(respond);
  session->Complete(slot_, IsoReply::kSend);
}

// --- IsoListener ---------------------------------------------------------------------------

Result<std::unique_ptr<IsoListener>> IsoListener::Open(
    const IsoListenerOptions& options, asio::io_context& accept_context,
    std::span<asio::io_context* const> session_contexts, IsoHandler& handler,
    metrics::Registry& metrics) {
  assert(!session_contexts.empty());
  if (options.framing == Framing::kNone) {
    return Status::InvalidArgument("iso_listener " + options.name + ": framing none");
  }
  auto state = std::make_shared<IsoListenerState>(options, handler, metrics);
  auto listener =
      std::unique_ptr<IsoListener>(new IsoListener(state, accept_context, session_contexts));
  // Asio creates a context's epoll reactor on first use. Do it now for every session
  // context, so that running out of descriptors later fails one accept() (counted, retried)
  // instead of throwing from the reactor's construction on the accept thread.
  for (asio::io_context* context : session_contexts) tcp::socket warm_up(*context);
  boost::system::error_code ec;
  const auto address = asio::ip::make_address(options.listen.host, ec);
  if (ec) {
    return Status::InvalidArgument("iso_listener " + options.name + ": '" + options.listen.host +
                                   "' is not an IP address");
  }
  const tcp::endpoint endpoint(address, options.listen.port);
  tcp::acceptor& acceptor = listener->acceptor_;
  auto fail = [&](std::string_view what) {
    return Status::Unavailable("iso_listener " + options.name + ": cannot " + std::string(what) +
                               " " + options.listen.ToString() + ": " + ec.message());
  };
  if (acceptor.open(endpoint.protocol(), ec)) return fail("open");
  if (acceptor.set_option(tcp::acceptor::reuse_address(true), ec)) return fail("configure");
  if (acceptor.bind(endpoint, ec)) return fail("bind");
  if (acceptor.listen(asio::socket_base::max_listen_connections, ec)) return fail("listen on");
  listener->port_ = acceptor.local_endpoint(ec).port();
  return listener;
}

IsoListener::~IsoListener() = default;

const IsoListenerOptions& IsoListener::options() const { return state_->options; }

void IsoListener::Start() {
  asio::post(acceptor_.get_executor(), [this] { DoAccept(); });
}

// On the accept context only.
void IsoListener::DoAccept() {
  if (!acceptor_.is_open()) return;
  asio::io_context& context = *session_contexts_[next_context_++ % session_contexts_.size()];
  // `this` is only touched when the accept was not aborted: the destructor closes the acceptor
  // (with the accept context stopped), which aborts the pending accept.
  acceptor_.async_accept(
      context, [this, &context](boost::system::error_code ec, tcp::socket socket) {
        if (ec == asio::error::operation_aborted || !acceptor_.is_open()) return;
        IsoListenerState& state = *state_;
        if (ec) {
          // Typically EMFILE/ENFILE: back off instead of spinning on a failing accept().
          state.accept_errors.Increment();
          RetryAcceptLater();
          return;
        } else if (state.open_connections.load(std::memory_order_relaxed) >=
                   state.options.connections_max) {
          state.refused.Increment();
          boost::system::error_code ignored;
          socket.close(ignored);
        } else {
          state.accepted.Increment();
          state.connections.Increment();
          state.open_connections.fetch_add(1, std::memory_order_relaxed);
          auto session = std::make_shared<IsoSession>(context, std::move(socket), state_);
          {
            std::lock_guard lock(state.sessions_mu);
            state.sessions.emplace(session->id(), session);
          }
          // The session's socket belongs to `context`; start it there.
          asio::dispatch(context, [session] { session->Start(); });
        }
        DoAccept();
      });
}

void IsoListener::RetryAcceptLater() {
  accept_retry_timer_.expires_after(std::chrono::milliseconds(kAcceptRetryMs));
  accept_retry_timer_.async_wait([this](boost::system::error_code ec) {
    if (!ec) DoAccept();
  });
}

void IsoListener::StopAccepting() {
  asio::post(acceptor_.get_executor(), [this] {
    accept_retry_timer_.cancel();
    boost::system::error_code ignored;
    acceptor_.close(ignored);
  });
}

namespace {

template <typename F>
void ForEachSession(IsoListenerState& state, F f) {
  std::vector<std::shared_ptr<IsoSession>> sessions;
  {
    std::lock_guard lock(state.sessions_mu);
    for (auto& [id, weak] : state.sessions) {
      if (auto s = weak.lock()) sessions.push_back(std::move(s));
    }
  }
  for (auto& s : sessions) f(s);
}

}  // namespace

void IsoListener::Drain() {
  ForEachSession(*state_, [](const std::shared_ptr<IsoSession>& s) {
    asio::post(s->executor(), [s] { s->Drain(); });
  });
}

void IsoListener::CloseAll() {
  ForEachSession(*state_, [](const std::shared_ptr<IsoSession>& s) {
    asio::post(s->executor(), [s] { s->Close(); });
  });
}

int64_t IsoListener::connections() const {
  return state_->open_connections.load(std::memory_order_relaxed);
}

int64_t IsoListener::in_flight() const {
  return state_->open_in_flight.load(std::memory_order_relaxed);
}

}  // namespace kytkin
