#include "switch/issuer_link.h"

#include <algorithm>
#include <chrono>
#include <ctime>
#include <deque>
#include <future>
#include <random>
#include <unordered_map>
#include <unordered_set>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include "switch/iso_operations.h"

namespace kytkin {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using SteadyClock = std::chrono::steady_clock;

// Answers remembered after their deadline, so a late one is told from an unknown one.
constexpr size_t kLateKeysMax = 65'536;
// STANs tried before giving up on finding one not in flight (in flight is far below 999,999).
constexpr int kStanAttemptsMax = 16;
constexpr uint32_t kStanMax = 999'999;
// Room for one packed request (header included).
constexpr size_t kRequestBytesMax = iso8583::Message::kPackedBytesTypicalMax + 8;
// Bounds of the options.
constexpr uint32_t kConnectionsMax = 64;
constexpr uint32_t kInFlightMax = 4096;
constexpr uint32_t kDeadlineMsMax = 600'000;
constexpr uint32_t kEchoFailuresMax = 100;
constexpr uint32_t kReconnectMsMax = 3'600'000;

int64_t NowUs() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             SteadyClock::now().time_since_epoch())
      .count();
}

std::string TransmissionTime() {
  std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  char buf[16];
  std::strftime(buf, sizeof(buf), "%m%d%H%M%S", &utc);
  return buf;
}

bool ValidId(std::string_view id) {
  if (id.empty() || id.size() > 32) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == '-';
  });
}

}  // namespace

std::string_view IssuerOutcomeName(IssuerOutcome outcome) {
  switch (outcome) {
    case IssuerOutcome::kAnswered:
      return "answered";
    case IssuerOutcome::kDeadline:
      return "deadline";
    case IssuerOutcome::kLinkDown:
      return "link_down";
    case IssuerOutcome::kFull:
      return "full";
  }
  return "unknown";
}

Status ValidateIssuerLinkOptions(const IssuerLinkOptions& o) {
  const std::string at = "issuer_link " + o.id + ": ";
  if (!ValidId(o.id))
    return Status::InvalidArgument("issuer_link: id must be 1-32 of A-Za-z0-9_.-");
  if (o.port == 0) return Status::InvalidArgument(at + "port must be 1..65535");
  if (o.host.empty()) return Status::InvalidArgument(at + "host is empty");
  if (iso8583::FindDialect(o.dialect) == nullptr) {
    return Status::InvalidArgument(at + "unknown dialect '" + o.dialect + "'");
  }
  if (o.framing == iso8583::Framing::kNone) {
    return Status::InvalidArgument(at + "framing none cannot delimit a TCP stream");
  }
  if (o.connections < 1 || o.connections > kConnectionsMax) {
    return Status::InvalidArgument(at + "connections must be 1..64");
  }
  if (o.in_flight_max < 1 || o.in_flight_max > kInFlightMax) {
    return Status::InvalidArgument(at + "in_flight_max must be 1..4096");
  }
  if (o.request_deadline_ms < 1 || o.request_deadline_ms > kDeadlineMsMax) {
    return Status::InvalidArgument(at + "request_deadline_ms must be 1..600000");
  }
  if (o.echo_failures_max < 1 || o.echo_failures_max > kEchoFailuresMax) {
    return Status::InvalidArgument(at + "echo_failures_max must be 1..100");
  }
  if (o.reconnect_initial_ms < 1 || o.reconnect_initial_ms > o.reconnect_max_ms ||
      o.reconnect_max_ms > kReconnectMsMax) {
    return Status::InvalidArgument(
        at + "reconnect_initial_ms must be 1..reconnect_max_ms, reconnect_max_ms <= 3600000");
  }
  if (o.key_fields.empty()) return Status::InvalidArgument(at + "key_fields is empty");
  for (int f : o.key_fields) {
    if (f < iso8583::kFieldMin || f > iso8583::kFieldMax) {
      return Status::InvalidArgument(at + "key_fields: " + std::to_string(f) + " is not 2..128");
    }
  }
  if (std::find(o.key_fields.begin(), o.key_fields.end(), 11) == o.key_fields.end()) {
    return Status::InvalidArgument(at + "key_fields must include 11 (the link's STAN)");
  }
  if (o.terminal_id.empty() || o.terminal_id.size() > 8) {
    return Status::InvalidArgument(at + "terminal_id must be 1-8 characters");
  }
  if (o.frame_bytes_max < 64 || o.frame_bytes_max > 65535) {
    return Status::InvalidArgument(at + "frame_bytes_max must be 64..65535");
  }
  return Status::Ok();
}

namespace {

enum class ConnState : uint8_t { kIdle, kConnecting, kSigningOn, kUp };

struct Conn {
  Conn(asio::io_context& io, const IssuerLinkOptions& o, const iso8583::Dialect& d)
      : socket(io),
        echo_timer(io),
        reconnect_timer(io),
        decoder(std::make_unique<iso8583::FrameDecoder>(
            iso8583::FrameDecoderOptions{o.framing, o.frame_bytes_max, 16384})),
        response(d) {}
  tcp::socket socket;
  asio::steady_timer echo_timer;
  asio::steady_timer reconnect_timer;
  std::unique_ptr<iso8583::FrameDecoder> decoder;
  iso8583::Message response;
  std::deque<std::vector<uint8_t>> out;
  ConnState state = ConnState::kIdle;
  uint64_t generation = 0;  // bumped on every close, so stale handlers do nothing
  uint32_t in_flight = 0;   // card requests waiting on this connection
  uint32_t attempt = 0;     // failed connection attempts in a row
  uint32_t echo_failures = 0;
};

struct Pending {
  IssuerCallback done;
  Conn* conn = nullptr;
  int64_t sent_us = 0;
  uint32_t stan = 0;
  uint64_t seq = 0;
  bool network = false;
};

struct Deadline {
  int64_t at_us;
  std::string key;
  uint64_t seq;
};

struct AtomicStats {
  std::atomic<uint64_t> sent{0}, answered{0}, deadlines{0}, late{0}, unmatched{0}, lost{0},
      refused_down{0}, refused_full{0}, connects{0}, connect_failures{0}, sign_ons{0},
      sign_on_failures{0}, echoes{0}, echo_failures{0}, disconnects{0}, bad_frames{0};
};

}  // namespace

struct IssuerLink::Impl : std::enable_shared_from_this<IssuerLink::Impl> {
  Impl(const IssuerLinkOptions& o, asio::io_context& context, const iso8583::Dialect& d)
      : options(o), io(context), dialect(&d), deadline_timer(context), rng(o.seed) {}

  void Connect(const std::shared_ptr<Conn>& conn);
  void OnConnected(const std::shared_ptr<Conn>& conn);
  void Close(Conn& conn);
  void ScheduleReconnect(const std::shared_ptr<Conn>& conn);
  void Read(const std::shared_ptr<Conn>& conn);
  void OnFrame(Conn& conn, std::span<const uint8_t> payload);
  void Write(const std::shared_ptr<Conn>& conn, std::vector<uint8_t> frame);
  void SendNetwork(const std::shared_ptr<Conn>& conn, std::string_view code);
  void ScheduleEcho(const std::shared_ptr<Conn>& conn);
  void DoSend(const iso8583::Message& request, IssuerCallback done);
  // Packs `message` (DE 11 set here) and registers it; false when it could not be sent.
  // On failure `pending` is left with the caller (its callback not called).
  bool Dispatch(const std::shared_ptr<Conn>& conn, iso8583::Message& message, Pending& pending);
  std::string KeyOf(const iso8583::Message& m) const;
  void ArmDeadlineTimer();
  void OnDeadlines();
  void Complete(Pending& p, IssuerOutcome outcome, const iso8583::Message* response);
  void UpdateUp();
  void StopNow();

  IssuerLinkOptions options;
  asio::io_context& io;
  const iso8583::Dialect* dialect;
  tcp::endpoint endpoint;
  std::vector<std::shared_ptr<Conn>> conns;
  std::unordered_map<std::string, Pending> pending;
  std::deque<Deadline> deadlines;
  asio::steady_timer deadline_timer;
  bool deadline_armed = false;
  std::unordered_set<std::string> late_keys;
  std::deque<std::string> late_order;
  uint32_t next_stan = 0;
  uint64_t next_seq = 0;
  size_t next_conn = 0;
  bool stopped = false;
  std::mt19937_64 rng;
  std::atomic<bool> up{false};
  AtomicStats stats;
  std::function<void(const std::string&, bool)> on_state_change;
  std::function<void(const iso8583::Message&)> on_late_response;
};

void IssuerLink::Impl::Connect(const std::shared_ptr<Conn>& conn) {
  if (stopped) return;
  conn->state = ConnState::kConnecting;
  const uint64_t generation = conn->generation;
  conn->socket.async_connect(
      endpoint, [self = shared_from_this(), conn, generation](boost::system::error_code ec) {
        if (self->stopped || conn->generation != generation) return;
        if (ec) {
          ++self->stats.connect_failures;
          boost::system::error_code ignored;
          conn->socket.close(ignored);
          conn->state = ConnState::kIdle;
          ++conn->generation;
          self->ScheduleReconnect(conn);
          return;
        }
        self->OnConnected(conn);
      });
}

void IssuerLink::Impl::OnConnected(const std::shared_ptr<Conn>& conn) {
  ++stats.connects;
  boost::system::error_code ignored;
  conn->socket.set_option(tcp::no_delay(true), ignored);
  conn->decoder = std::make_unique<iso8583::FrameDecoder>(
      iso8583::FrameDecoderOptions{options.framing, options.frame_bytes_max, 16384});
  conn->out.clear();
  conn->state = ConnState::kSigningOn;
  conn->echo_failures = 0;
  Read(conn);
  SendNetwork(conn, kNetworkSignOn);
}

void IssuerLink::Impl::Close(Conn& conn) {
  if (conn.state == ConnState::kIdle) return;
  const bool was_connected = conn.state != ConnState::kConnecting;
  boost::system::error_code ignored;
  conn.socket.close(ignored);
  conn.echo_timer.cancel();
  conn.state = ConnState::kIdle;
  ++conn.generation;
  conn.out.clear();
  if (was_connected) ++stats.disconnects;
  // Every request on this connection is lost: its answer can no longer arrive.
  std::vector<Pending> lost;
  for (auto it = pending.begin(); it != pending.end();) {
    if (it->second.conn == &conn) {
      lost.push_back(std::move(it->second));
      it = pending.erase(it);
    } else {
      ++it;
    }
  }
  UpdateUp();
  for (Pending& p : lost) {
    if (!p.network) ++stats.lost;
    Complete(p, IssuerOutcome::kLinkDown, nullptr);
  }
  for (auto& c : conns) {
    if (c.get() == &conn) ScheduleReconnect(c);
  }
}

void IssuerLink::Impl::ScheduleReconnect(const std::shared_ptr<Conn>& conn) {
  if (stopped) return;
  const uint32_t shift = std::min<uint32_t>(conn->attempt, 31);
  const uint64_t wait_ms =
      std::min<uint64_t>(uint64_t{options.reconnect_initial_ms} << shift, options.reconnect_max_ms);
  ++conn->attempt;
  std::uniform_int_distribution<uint64_t> jitter(wait_ms / 2, wait_ms);
  conn->reconnect_timer.expires_after(std::chrono::milliseconds(jitter(rng)));
  conn->reconnect_timer.async_wait([self = shared_from_this(), conn](boost::system::error_code ec) {
    if (ec || self->stopped || conn->state != ConnState::kIdle) return;
    self->Connect(conn);
  });
}

void IssuerLink::Impl::Read(const std::shared_ptr<Conn>& conn) {
  std::span<uint8_t> space = conn->decoder->WritableSpan();
  if (space.empty()) {
    ++stats.bad_frames;
    return Close(*conn);
  }
  const uint64_t generation = conn->generation;
  conn->socket.async_read_some(
      asio::buffer(space.data(), space.size()),
      [self = shared_from_this(), conn, generation](boost::system::error_code ec, size_t n) {
        if (self->stopped || conn->generation != generation) return;
        if (ec) return self->Close(*conn);
        conn->decoder->Commit(n);
        for (;;) {
          auto frame = conn->decoder->Next();
          if (frame.state == iso8583::FrameDecoder::State::kError) {
            ++self->stats.bad_frames;
            return self->Close(*conn);
          }
          if (frame.state == iso8583::FrameDecoder::State::kNeedMore) break;
          self->OnFrame(*conn, frame.payload);
          if (conn->generation != generation) return;  // a callback closed it
        }
        self->Read(conn);
      });
}

std::string IssuerLink::Impl::KeyOf(const iso8583::Message& m) const {
  std::string key;
  for (int f : options.key_fields) {
    key += m.Get(f);
    key += '|';
  }
  return key;
}

void IssuerLink::Impl::OnFrame(Conn& conn, std::span<const uint8_t> payload) {
  iso8583::Message& response = conn.response;
  if (!response.Parse(payload).ok()) {
    ++stats.bad_frames;
    return;
  }
  std::string key = KeyOf(response);
  auto it = pending.find(key);
  if (it == pending.end()) {
    if (late_keys.erase(key) > 0) {
      ++stats.late;
      if (on_late_response) on_late_response(response);
    } else {
      ++stats.unmatched;
    }
    return;
  }
  Pending p = std::move(it->second);
  pending.erase(it);
  if (!p.network) ++stats.answered;
  Complete(p, IssuerOutcome::kAnswered, &response);
}

void IssuerLink::Impl::Complete(Pending& p, IssuerOutcome outcome,
                                const iso8583::Message* response) {
  if (!p.network && p.conn != nullptr && p.conn->in_flight > 0) --p.conn->in_flight;
  IssuerReply reply;
  reply.outcome = outcome;
  reply.response = response;
  reply.stan = p.stan;
  reply.latency_us = NowUs() - p.sent_us;
  if (p.done) p.done(reply);
}

void IssuerLink::Impl::Write(const std::shared_ptr<Conn>& conn, std::vector<uint8_t> frame) {
  conn->out.push_back(std::move(frame));
  if (conn->out.size() > 1) return;
  const uint64_t generation = conn->generation;
  struct Writer {
    std::shared_ptr<Impl> self;
    std::shared_ptr<Conn> conn;
    uint64_t generation;
    void operator()(boost::system::error_code ec, size_t) {
      if (self->stopped || conn->generation != generation) return;
      if (ec) return self->Close(*conn);
      conn->out.pop_front();
      if (!conn->out.empty()) {
        asio::async_write(conn->socket, asio::buffer(conn->out.front()), std::move(*this));
      }
    }
  };
  asio::async_write(conn->socket, asio::buffer(conn->out.front()),
                    Writer{shared_from_this(), conn, generation});
}

bool IssuerLink::Impl::Dispatch(const std::shared_ptr<Conn>& conn, iso8583::Message& message,
                                Pending& p) {
  std::string key;
  for (int attempt = 0; attempt < kStanAttemptsMax; ++attempt) {
    next_stan = next_stan >= kStanMax ? 1 : next_stan + 1;
    if (!message.SetUint(11, next_stan).ok()) return false;
    key = KeyOf(message);
    if (!pending.contains(key)) break;
    key.clear();
  }
  if (key.empty()) return false;
  std::vector<uint8_t> frame(kRequestBytesMax);
  const size_t header = iso8583::FrameHeaderBytes(options.framing);
  auto packed = message.Pack(std::span<uint8_t>(frame).subspan(header));
  if (!packed.ok() || !iso8583::WriteFrameHeader(options.framing, *packed, frame).ok()) {
    return false;
  }
  frame.resize(header + *packed);
  p.conn = conn.get();
  p.stan = next_stan;
  p.seq = ++next_seq;
  if (!p.network) ++conn->in_flight;
  deadlines.push_back(
      Deadline{p.sent_us + int64_t{options.request_deadline_ms} * 1000, key, p.seq});
  pending.emplace(std::move(key), std::move(p));
  ArmDeadlineTimer();
  Write(conn, std::move(frame));
  return true;
}

void IssuerLink::Impl::SendNetwork(const std::shared_ptr<Conn>& conn, std::string_view code) {
  iso8583::Message m(*dialect);
  const bool sign_on = code == kNetworkSignOn;
  Status s = m.SetMti("0800");
  if (s.ok()) s = m.Set(7, TransmissionTime());
  if (s.ok()) s = m.Set(41, options.terminal_id);
  if (s.ok()) s = m.Set(70, code);
  Pending p;
  p.network = true;
  p.sent_us = NowUs();
  const uint64_t generation = conn->generation;
  p.done = [this, conn, sign_on, generation](const IssuerReply& reply) {
    if (stopped || conn->generation != generation) return;
    const bool ok = reply.outcome == IssuerOutcome::kAnswered && reply.response->Get(39) == "00";
    if (sign_on) {
      if (!ok) {
        ++stats.sign_on_failures;
        return Close(*conn);
      }
      ++stats.sign_ons;
      conn->state = ConnState::kUp;
      conn->attempt = 0;
      UpdateUp();
      ScheduleEcho(conn);
      return;
    }
    if (ok) {
      ++stats.echoes;
      conn->echo_failures = 0;
    } else {
      ++stats.echo_failures;
      if (++conn->echo_failures >= options.echo_failures_max) return Close(*conn);
    }
  };
  if (!s.ok() || !Dispatch(conn, m, p)) Close(*conn);
}

void IssuerLink::Impl::ScheduleEcho(const std::shared_ptr<Conn>& conn) {
  if (options.echo_interval_ms == 0 || stopped) return;
  const uint64_t generation = conn->generation;
  conn->echo_timer.expires_after(std::chrono::milliseconds(options.echo_interval_ms));
  conn->echo_timer.async_wait(
      [self = shared_from_this(), conn, generation](boost::system::error_code ec) {
        if (ec || self->stopped || conn->generation != generation) return;
        self->SendNetwork(conn, kNetworkEcho);
        if (conn->generation == generation) self->ScheduleEcho(conn);
      });
}

void IssuerLink::Impl::ArmDeadlineTimer() {
  if (deadline_armed || deadlines.empty()) return;
  deadline_armed = true;
  const int64_t wait_us = std::max<int64_t>(0, deadlines.front().at_us - NowUs());
  deadline_timer.expires_after(std::chrono::microseconds(wait_us));
  deadline_timer.async_wait([self = shared_from_this()](boost::system::error_code ec) {
    self->deadline_armed = false;
    if (ec || self->stopped) return;
    self->OnDeadlines();
  });
}

void IssuerLink::Impl::OnDeadlines() {
  const int64_t now = NowUs();
  // Deadlines are pushed in send order with one constant deadline, so the queue is sorted.
  while (!deadlines.empty() && deadlines.front().at_us <= now) {
    Deadline d = std::move(deadlines.front());
    deadlines.pop_front();
    auto it = pending.find(d.key);
    if (it == pending.end() || it->second.seq != d.seq) continue;  // answered or lost already
    Pending p = std::move(it->second);
    pending.erase(it);
    // Only card requests: a late echo answer must not reach on_late_response (nothing to reverse).
    if (!p.network && late_keys.insert(d.key).second) {
      late_order.push_back(d.key);
      if (late_order.size() > kLateKeysMax) {
        late_keys.erase(late_order.front());
        late_order.pop_front();
      }
    }
    if (!p.network) ++stats.deadlines;
    Complete(p, IssuerOutcome::kDeadline, nullptr);
  }
  ArmDeadlineTimer();
}

void IssuerLink::Impl::UpdateUp() {
  bool any = std::any_of(conns.begin(), conns.end(),
                         [](const auto& c) { return c->state == ConnState::kUp; });
  if (any == up.load()) return;
  up = any;
  if (on_state_change) on_state_change(options.id, any);
}

void IssuerLink::Impl::DoSend(const iso8583::Message& request, IssuerCallback done) {
  IssuerReply reply;
  if (stopped || !up) {
    ++stats.refused_down;
    reply.outcome = IssuerOutcome::kLinkDown;
    return done(reply);
  }
  std::shared_ptr<Conn> chosen;
  for (size_t i = 0; i < conns.size() && !chosen; ++i) {
    auto& c = conns[(next_conn + i) % conns.size()];
    if (c->state == ConnState::kUp && c->in_flight < options.in_flight_max) chosen = c;
  }
  next_conn = (next_conn + 1) % conns.size();
  if (!chosen) {
    ++stats.refused_full;
    reply.outcome = IssuerOutcome::kFull;
    return done(reply);
  }
  // Re-packed in the link's dialect: the terminal's listener may speak another one.
  iso8583::Message out(*dialect);
  Status s = out.SetMti(request.mti());
  request.ForEachField([&](int field, std::string_view value) {
    if (s.ok()) s = out.Set(field, value);
  });
  Pending p;
  p.done = std::move(done);
  p.sent_us = NowUs();
  if (!s.ok() || !Dispatch(chosen, out, p)) {
    // Not sendable on this link (a field the link's dialect cannot carry): like a refusal.
    ++stats.bad_frames;
    reply.outcome = IssuerOutcome::kLinkDown;
    if (p.done) p.done(reply);
    return;
  }
  ++stats.sent;
}

void IssuerLink::Impl::StopNow() {
  if (stopped) return;
  stopped = true;
  boost::system::error_code ignored;
  deadline_timer.cancel();
  std::vector<Pending> all;
  for (auto& [key, p] : pending) all.push_back(std::move(p));
  pending.clear();
  deadlines.clear();
  for (auto& c : conns) {
    c->socket.close(ignored);
    c->echo_timer.cancel();
    c->reconnect_timer.cancel();
    c->state = ConnState::kIdle;
    ++c->generation;
  }
  UpdateUp();
  for (Pending& p : all) Complete(p, IssuerOutcome::kLinkDown, nullptr);
}

IssuerLink::IssuerLink(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

IssuerLink::~IssuerLink() = default;

Result<std::unique_ptr<IssuerLink>> IssuerLink::Create(const IssuerLinkOptions& options,
                                                       asio::io_context& io) {
  KYTKIN_RETURN_IF_ERROR(ValidateIssuerLinkOptions(options));
  auto impl = std::make_shared<Impl>(options, io, *iso8583::FindDialect(options.dialect));
  boost::system::error_code ec;
  tcp::resolver resolver(io);
  auto results = resolver.resolve(options.host, std::to_string(options.port), ec);
  if (ec || results.empty()) {
    return Status::InvalidArgument("issuer_link " + options.id + ": cannot resolve host '" +
                                   options.host + "': " + ec.message());
  }
  impl->endpoint = results.begin()->endpoint();
  for (uint32_t i = 0; i < options.connections; ++i) {
    impl->conns.push_back(std::make_shared<Conn>(io, options, *impl->dialect));
  }
  return std::unique_ptr<IssuerLink>(new IssuerLink(std::move(impl)));
}

void IssuerLink::set_on_state_change(std::function<void(const std::string&, bool)> f) {
  impl_->on_state_change = std::move(f);
}

void IssuerLink::set_on_late_response(std::function<void(const iso8583::Message&)> f) {
  impl_->on_late_response = std::move(f);
}

void IssuerLink::Start() {
  asio::post(impl_->io, [impl = impl_] {
    for (auto& c : impl->conns) impl->Connect(c);
  });
}

void IssuerLink::Stop() {
  if (impl_->io.stopped() || impl_->io.get_executor().running_in_this_thread()) {
    impl_->StopNow();
    return;
  }
  std::promise<void> done;
  asio::post(impl_->io, [impl = impl_, &done] {
    impl->StopNow();
    done.set_value();
  });
  done.get_future().wait();
}

void IssuerLink::Send(const iso8583::Message& request, IssuerCallback done) {
  auto copy = std::make_shared<iso8583::Message>(request);
  asio::post(impl_->io, [impl = impl_, copy, done = std::move(done)]() mutable {
    impl->DoSend(*copy, std::move(done));
  });
}

const std::string& IssuerLink::id() const { return impl_->options.id; }

bool IssuerLink::up() const { return impl_->up.load(); }

IssuerLinkStats IssuerLink::stats() const {
  const AtomicStats& a = impl_->stats;
  IssuerLinkStats s;
  s.sent = a.sent;
  s.answered = a.answered;
  s.deadlines = a.deadlines;
  s.late = a.late;
  s.unmatched = a.unmatched;
  s.lost = a.lost;
  s.refused_down = a.refused_down;
  s.refused_full = a.refused_full;
  s.connects = a.connects;
  s.connect_failures = a.connect_failures;
  s.sign_ons = a.sign_ons;
  s.sign_on_failures = a.sign_on_failures;
  s.echoes = a.echoes;
  s.echo_failures = a.echo_failures;
  s.disconnects = a.disconnects;
  s.bad_frames = a.bad_frames;
  return s;
}

}  // namespace kytkin
