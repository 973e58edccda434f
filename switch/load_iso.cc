// The ISO 8583 side of `kytkin load`: non-blocking sockets, one ppoll() loop per worker thread,
// requests matched to answers by DE 11 (STAN) on each connection.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <ctime>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "iso8583/dialect.h"
#include "iso8583/framing.h"
#include "iso8583/message.h"
#include "switch/load_worker.h"
#include "switch/terminal_client.h"

namespace kytkin::load {
namespace {

constexpr uint32_t kStanMax = 999'999;
constexpr size_t kApprovedRingSize = 64;         // originals kept per connection for reversals
constexpr size_t kMessageBytesMax = 2048;        // a packed request; ours are ~150 bytes
constexpr uint64_t kTimeoutScanNs = 10'000'000;  // scan for timed-out requests every 10 ms
constexpr uint64_t kIdleWaitNs = 1'000'000;      // longest sleep when nothing is due

struct Pending {
  bool active = false;
  uint32_t stan = 0;
  uint64_t due_ns = 0;
  uint64_t sent_ns = 0;
  LoadOperation op = LoadOperation::kAuthorize;
  int64_t amount_minor = 0;
  std::string pan;  // kept for the reversal of an approval; memory only
  std::string transmission_time;
};

struct Original {
  uint32_t stan = 0;
  int64_t amount_minor = 0;
  std::string pan;
  std::string transmission_time;
};

struct Connection {
  int fd = -1;
  bool dead = false;
  std::unique_ptr<iso8583::FrameDecoder> decoder;
  std::vector<uint8_t> out;
  size_t out_sent = 0;
  std::vector<Pending> slots;
  uint32_t in_flight = 0;
  uint32_t next_stan = 1;
  TerminalIdentity identity;
  std::vector<Original> approved;  // ring
  size_t approved_next = 0;
  size_t approved_count = 0;
};

Result<int> ConnectLoopback(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return Status::IOError("socket failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return Status::Unavailable("cannot connect to 127.0.0.1:" + std::to_string(port));
  }
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL, 0) | O_NONBLOCK);
  return fd;
}

class IsoWorker {
 public:
  IsoWorker(const LoadOptions& options, const WorkerPlan& plan, WorkerShared& shared)
      : options_(options),
        plan_(plan),
        shared_(shared),
        dialect_(iso8583::FindDialect(options.dialect)),
        framing_(*iso8583::ParseFraming(options.framing)),
        request_(*dialect_),
        response_(*dialect_),
        picker_(options.mix),
        zipf_(options.cards, options.zipf_s),
        rng_(options.seed * 7919 + plan.index) {}

  void Run() {
    for (uint32_t c = 0; c < options_.connections; ++c) {
      auto fd = ConnectLoopback(options_.iso_port);
      if (!fd.ok()) {
        std::lock_guard lock(shared_.mu);
        ++shared_.errors;
        ++shared_.interval_errors;
        continue;
      }
      Connection conn;
      conn.fd = *fd;
      conn.decoder = std::make_unique<iso8583::FrameDecoder>(
          iso8583::FrameDecoderOptions{framing_, 8192, 65536});
      conn.slots.resize(options_.depth);
      conn.approved.resize(kApprovedRingSize);
      char terminal[16];
      std::snprintf(terminal, sizeof(terminal), "LD%06u", plan_.index * 1024 + c);
      conn.identity.terminal_id = terminal;
      connections_.push_back(std::move(conn));
    }
    if (connections_.empty()) return;
    pollfds_.resize(connections_.size());
    const bool closed_loop = plan_.rate_per_s == 0;
    std::unique_ptr<OpenLoopSchedule> schedule;
    if (!closed_loop) {
      schedule = std::make_unique<OpenLoopSchedule>(plan_.schedule_start_ns, plan_.rate_per_s);
    }
    uint64_t next_index = 0;
    bool issuing = true;
    uint64_t last_scan_ns = NowNs();
    size_t rr = 0;
    for (;;) {
      uint64_t now = NowNs();
      if (issuing) {
        if (closed_loop) {
          if (now >= plan_.measure_end_ns) {
            issuing = false;
          } else {
            for (auto& conn : connections_) {
              while (!conn.dead && conn.in_flight < options_.depth) Issue(conn, now, now);
            }
          }
        } else {
          while (true) {
            const uint64_t due = schedule->DueNs(next_index);
            if (due >= plan_.measure_end_ns) {
              issuing = false;
              break;
            }
            if (due > now) break;
            Connection* free = nullptr;
            for (size_t k = 0; k < connections_.size() && free == nullptr; ++k) {
              Connection& c = connections_[(rr + k) % connections_.size()];
              if (!c.dead && c.in_flight < options_.depth) free = &c;
            }
            if (free == nullptr) break;  // backlog: waits, and its wait is counted
            rr = (rr + 1) % connections_.size();
            Issue(*free, due, now);
            ++next_index;
          }
        }
      }
      uint32_t in_flight = 0;
      bool alive = false;
      for (auto& conn : connections_) {
        if (conn.dead) continue;
        alive = true;
        Flush(conn);
        in_flight += conn.in_flight;
      }
      if (!alive || (!issuing && in_flight == 0) || now >= plan_.deadline_ns) break;
      if (now - last_scan_ns >= kTimeoutScanNs) {
        ExpireTimeouts(now);
        last_scan_ns = now;
      }
      uint64_t wait_ns = kIdleWaitNs;
      if (issuing && !closed_loop) {
        const uint64_t due = schedule->DueNs(next_index);
        wait_ns = due > now ? std::min(due - now, kIdleWaitNs) : 0;
        if (due <= now && in_flight == connections_.size() * options_.depth) wait_ns = kIdleWaitNs;
      }
      for (size_t i = 0; i < connections_.size(); ++i) {
        const Connection& conn = connections_[i];
        pollfds_[i].fd = conn.dead ? -1 : conn.fd;
        pollfds_[i].events =
            static_cast<short>(POLLIN | (conn.out.size() > conn.out_sent ? POLLOUT : 0));
        pollfds_[i].revents = 0;
      }
      timespec ts{static_cast<time_t>(wait_ns / 1'000'000'000),
                  static_cast<long>(wait_ns % 1'000'000'000)};
      int ready = ::ppoll(pollfds_.data(), pollfds_.size(), &ts, nullptr);
      if (ready <= 0) continue;
      std::lock_guard lock(shared_.mu);
      const uint64_t read_ns = NowNs();
      for (size_t i = 0; i < connections_.size(); ++i) {
        if (pollfds_[i].revents & (POLLIN | POLLERR | POLLHUP)) Read(connections_[i], read_ns);
      }
    }
    // Whatever is still unanswered at the deadline timed out.
    {
      std::lock_guard lock(shared_.mu);
      for (auto& conn : connections_) {
        for (auto& p : conn.slots) {
          if (p.active) shared_.RecordFailure(plan_, p.due_ns, /*timeout=*/true);
          p.active = false;
        }
      }
      if (!closed_loop) CountNotSent(plan_, next_index, shared_);
    }
    for (auto& conn : connections_) ::close(conn.fd);
  }

 private:
  void RefreshTime() {
    std::time_t now = std::time(nullptr);
    if (now != time_second_) {
      time_second_ = now;
      transmission_time_ = TransmissionTimeNow();
    }
  }

  void Issue(Connection& conn, uint64_t due_ns, uint64_t now_ns) {
    RefreshTime();
    LoadOperation op = picker_.Pick(rng_);
    TerminalRequest request;
    request.transmission_time = transmission_time_;
    request.expiry_yymm = "3012";
    request.amount = Amount(static_cast<int64_t>(100 + rng_() % 4900), 978);
    request.stan = conn.next_stan;
    conn.next_stan = conn.next_stan >= kStanMax ? 1 : conn.next_stan + 1;
    if (op == LoadOperation::kReversal && conn.approved_count == 0) op = LoadOperation::kAuthorize;
    switch (op) {
      case LoadOperation::kAuthorize:
        request.operation = CardOperation::kAuthorize;
        request.pan = LoadCardPan(zipf_.Pick(rng_));
        break;
      case LoadOperation::kPurchase:
        request.operation = CardOperation::kPurchase;
        request.pan = LoadCardPan(zipf_.Pick(rng_));
        break;
      case LoadOperation::kBalanceInquiry:
        request.operation = CardOperation::kBalanceInquiry;
        request.amount = Amount(0, 978);
        request.pan = LoadCardPan(zipf_.Pick(rng_));
        break;
      case LoadOperation::kDeclineUnknown:
        request.operation = CardOperation::kAuthorize;
        request.pan = LoadCardPan(kUnknownCardBase + rng_() % 1000);
        break;
      case LoadOperation::kDeclineNoFunds:
        request.operation = CardOperation::kAuthorize;
        request.pan = LoadCardPan(kEmptyCardBase + rng_() % kEmptyCardCount);
        break;
      case LoadOperation::kReversal: {
        conn.approved_next = (conn.approved_next + kApprovedRingSize - 1) % kApprovedRingSize;
        --conn.approved_count;
        Original& original = conn.approved[conn.approved_next];
        request.operation = CardOperation::kReversal;
        request.pan = original.pan;
        request.amount = Amount(original.amount_minor, 978);
        request.original.mti = "0100";
        request.original.stan = original.stan;
        request.original.transmission_time = original.transmission_time;
        break;
      }
    }
    Pending* slot = nullptr;
    for (auto& s : conn.slots) {
      if (!s.active) {
        slot = &s;
        break;
      }
    }
    const size_t header = iso8583::FrameHeaderBytes(framing_);
    const size_t at = conn.out.size();
    conn.out.resize(at + header + kMessageBytesMax);
    std::span<uint8_t> buffer(conn.out.data() + at, header + kMessageBytesMax);
    Status status = BuildTerminalRequest(request, conn.identity, request_);
    Result<size_t> packed = status.ok() ? request_.Pack(buffer.subspan(header)) : status;
    if (packed.ok()) status = iso8583::WriteFrameHeader(framing_, *packed, buffer);
    std::lock_guard lock(shared_.mu);
    shared_.RecordSent(plan_, due_ns, op);
    if (!packed.ok() || !status.ok() || slot == nullptr) {
      conn.out.resize(at);
      shared_.RecordFailure(plan_, due_ns, /*timeout=*/false);
      return;
    }
    conn.out.resize(at + header + *packed);
    slot->active = true;
    slot->stan = request.stan;
    slot->due_ns = due_ns;
    slot->sent_ns = now_ns;
    slot->op = op;
    slot->amount_minor = request.amount.minor_units();
    if (op == LoadOperation::kAuthorize) {
      slot->pan = request.pan;
      slot->transmission_time = request.transmission_time;
    }
    ++conn.in_flight;
  }

  void Flush(Connection& conn) {
    while (conn.out_sent < conn.out.size()) {
      ssize_t n = ::send(conn.fd, conn.out.data() + conn.out_sent, conn.out.size() - conn.out_sent,
                         MSG_NOSIGNAL);
      if (n > 0) {
        conn.out_sent += static_cast<size_t>(n);
        continue;
      }
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
      std::lock_guard lock(shared_.mu);
      Fail(conn);
      return;
    }
    conn.out.clear();
    conn.out_sent = 0;
  }

  // REQUIRES: shared_.mu held.
  void Fail(Connection& conn) {
    conn.dead = true;
    for (auto& p : conn.slots) {
      if (p.active) shared_.RecordFailure(plan_, p.due_ns, /*timeout=*/false);
      p.active = false;
    }
    conn.in_flight = 0;
  }

  // REQUIRES: shared_.mu held.
  void Read(Connection& conn, uint64_t now_ns) {
    if (conn.dead) return;
    for (;;) {
      std::span<uint8_t> space = conn.decoder->WritableSpan();
      if (space.empty()) return Fail(conn);
      ssize_t n = ::recv(conn.fd, space.data(), space.size(), 0);
      if (n == 0) return Fail(conn);
      if (n < 0) {
        if (errno == EAGAIN || errno == EINTR) return;
        return Fail(conn);
      }
      conn.decoder->Commit(static_cast<size_t>(n));
      for (;;) {
        auto frame = conn.decoder->Next();
        if (frame.state == iso8583::FrameDecoder::State::kError) return Fail(conn);
        if (frame.state == iso8583::FrameDecoder::State::kNeedMore) break;
        if (!response_.Parse(frame.payload).ok()) {
          ++shared_.errors;  // an answer we cannot read: its request will time out
          continue;
        }
        auto stan = response_.GetUint(11);
        if (!stan.ok()) continue;
        for (auto& p : conn.slots) {
          if (!p.active || p.stan != *stan) continue;
          std::string_view code = response_.Get(39);
          shared_.RecordAnswer(plan_, p.due_ns, now_ns, code);
          if (p.op == LoadOperation::kAuthorize && code == "00") {
            Original& o = conn.approved[conn.approved_next];
            o.stan = p.stan;
            o.amount_minor = p.amount_minor;
            o.pan = p.pan;
            o.transmission_time = p.transmission_time;
            conn.approved_next = (conn.approved_next + 1) % kApprovedRingSize;
            conn.approved_count = std::min(conn.approved_count + 1, kApprovedRingSize);
          }
          p.active = false;
          --conn.in_flight;
          break;
        }
      }
      if (static_cast<size_t>(n) < space.size()) return;
    }
  }

  void ExpireTimeouts(uint64_t now_ns) {
    const uint64_t timeout_ns = options_.timeout_ms * 1'000'000;
    std::lock_guard lock(shared_.mu);
    for (auto& conn : connections_) {
      for (auto& p : conn.slots) {
        if (p.active && now_ns - p.sent_ns > timeout_ns) {
          shared_.RecordFailure(plan_, p.due_ns, /*timeout=*/true);
          p.active = false;
          --conn.in_flight;
        }
      }
    }
  }

  const LoadOptions& options_;
  const WorkerPlan& plan_;
  WorkerShared& shared_;
  const iso8583::Dialect* dialect_;
  iso8583::Framing framing_;
  iso8583::Message request_;
  iso8583::Message response_;
  OperationPicker picker_;
  ZipfPicker zipf_;
  std::mt19937_64 rng_;
  std::vector<Connection> connections_;
  std::vector<pollfd> pollfds_;
  std::time_t time_second_ = 0;
  std::string transmission_time_;
};

}  // namespace

void RunIsoWorker(const LoadOptions& options, const WorkerPlan& plan, WorkerShared& shared) {
  IsoWorker(options, plan, shared).Run();
}

}  // namespace kytkin::load
