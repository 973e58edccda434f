#include "switch/issuer_sim.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <deque>
#include <random>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include "core/response_code.h"
#include "switch/iso_operations.h"

namespace kytkin {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;

// Largest answer the simulator writes (header included).
constexpr size_t kResponseBytesMax = 8192;
// Answers queued per connection; beyond it the peer is not reading and the connection is closed.
constexpr size_t kWriteQueueFramesMax = 4096;
// DE 90: original MTI (4) + STAN (6) + transmission time (10) + acquirer (11) + forwarder (11).
constexpr size_t kOriginalDataChars = 42;

std::string Key(std::initializer_list<std::string_view> parts) {
  std::string out;
  for (std::string_view p : parts) {
    out += p;
    out += '|';
  }
  return out;
}

bool IsResponseMti(std::string_view mti) { return mti.size() == 4 && ((mti[2] - '0') % 2) == 1; }

}  // namespace

std::string IssuerSimStats::ToJson() const {
  char buf[1024];
  std::snprintf(
      buf, sizeof(buf),
      "{\"connections\":%llu,\"refused_while_down\":%llu,\"requests\":%llu,"
      "\"parse_errors\":%llu,\"sign_ons\":%llu,\"echoes\":%llu,\"approvals\":%llu,"
      "\"declines\":%llu,\"advices_applied\":%llu,\"advice_repeats\":%llu,"
      "\"reversals_applied\":%llu,\"reversal_repeats\":%llu,"
      "\"reversals_unmatched\":%llu,\"dropped\":%llu,\"late\":%llu,"
      "\"disconnects\":%llu,\"partial_approvals\":%llu}",
      static_cast<unsigned long long>(connections),
      static_cast<unsigned long long>(refused_while_down),
      static_cast<unsigned long long>(requests), static_cast<unsigned long long>(parse_errors),
      static_cast<unsigned long long>(sign_ons), static_cast<unsigned long long>(echoes),
      static_cast<unsigned long long>(approvals), static_cast<unsigned long long>(declines),
      static_cast<unsigned long long>(advices_applied),
      static_cast<unsigned long long>(advice_repeats),
      static_cast<unsigned long long>(reversals_applied),
      static_cast<unsigned long long>(reversal_repeats),
      static_cast<unsigned long long>(reversals_unmatched),
      static_cast<unsigned long long>(dropped), static_cast<unsigned long long>(late),
      static_cast<unsigned long long>(disconnects),
      static_cast<unsigned long long>(partial_approvals));
  return buf;
}

// ---------------------------------------------------------------------------------------------
// IssuerSimLedger

void IssuerSimLedger::AddCard(std::string_view pan, Amount balance) {
  cards_[std::string(pan)] = Card{balance.minor_units(), balance.currency()};
}

IssuerSimLedger::Card* IssuerSimLedger::FindCard(std::string_view pan) {
  auto it = cards_.find(std::string(pan));
  if (it != cards_.end()) return &it->second;
  if (!unknown_card_balance_ || pan.empty()) return nullptr;
  Card& card = cards_[std::string(pan)];
  card = Card{unknown_card_balance_->minor_units(), unknown_card_balance_->currency()};
  return &card;
}

Result<int64_t> IssuerSimLedger::AvailableMinor(std::string_view pan) const {
  auto it = cards_.find(std::string(pan));
  if (it == cards_.end()) return Status::NotFound("card unknown to the issuer simulator");
  return it->second.available_minor;
}

Result<bool> IssuerSimLedger::Answer(const iso8583::Message& request, bool force_decline,
                                     iso8583::Message& response, IssuerSimStats& stats,
                                     bool partial_approvals) {
  const std::string_view mti = request.mti();
  if (mti.size() != 4 || IsResponseMti(mti)) return false;
  auto response_mti = iso8583::ResponseMti(mti);
  if (!response_mti.ok()) return false;
  response.Reset();
  KYTKIN_RETURN_IF_ERROR(
      response.SetMti(std::string_view(response_mti->data(), response_mti->size())));
  KYTKIN_RETURN_IF_ERROR(
      response.CopyFieldsIfPresent(request, {2, 3, 4, 7, 11, 12, 13, 32, 37, 41, 42, 49, 70, 90}));
  auto answer = [&](ResponseCode code) -> Result<bool> {
    KYTKIN_RETURN_IF_ERROR(response.Set(39, ResponseCodeDigits(code)));
    return true;
  };

  const std::string_view base = BaseMti(mti);
  const std::string_view terminal = request.Get(41);
  const std::string_view stan = request.Get(11);
  const std::string_view time = request.Get(7);
  // A switch's link gives every send its own STAN, so a repeated advice (0121/0421) arrives with
  // a new DE 11; its retrieval reference number (DE 37) stays. Advices are known by it when set.
  const std::string_view advice_id = request.Has(37) ? request.Get(37) : stan;

  if (base == "0800") {
    std::string_view code = request.Get(70);
    if (code == kNetworkSignOn) ++stats.sign_ons;
    if (code == kNetworkEcho) ++stats.echoes;
    if (code != kNetworkSignOn && code != kNetworkEcho && code != kNetworkSignOff) {
      return answer(ResponseCode::kInvalidTransaction);
    }
    return answer(ResponseCode::kApproved);
  }

  if (base == "0420") {
    // Always acknowledged; the money comes back once per original.
    std::string key = Key({"0420", terminal, advice_id, time});
    if (!advice_keys_.insert(key).second) {
      ++stats.reversal_repeats;
      return answer(ResponseCode::kApproved);
    }
    std::shared_ptr<Taken> taken;
    std::string_view original = request.Get(90);
    if (original.size() == kOriginalDataChars) {
      auto it = by_original_.find(
          Key({BaseMti(original.substr(0, 4)), original.substr(4, 6), original.substr(10, 10)}));
      if (it != by_original_.end()) taken = it->second;
    }
    if (!taken) {
      auto it = by_terminal_stan_.find(Key({terminal, stan}));
      if (it != by_terminal_stan_.end()) taken = it->second;
    }
    if (!taken) {
      ++stats.reversals_unmatched;
    } else if (taken->reversed) {
      ++stats.reversal_repeats;
    } else {
      taken->reversed = true;
      if (Card* card = FindCard(taken->pan)) card->available_minor += taken->minor;
      ++stats.reversals_applied;
    }
    return answer(ResponseCode::kApproved);
  }

  auto amount = request.GetAmount(4, 49);
  const std::string_view pan = request.Get(2);
  const std::string_view type = request.Get(3).substr(0, 2);

  if (base == "0120") {
    std::string key = Key({"0120", terminal, advice_id, time});
    if (!advice_keys_.insert(key).second) {
      ++stats.advice_repeats;
      if (auto it = advice_taken_.find(key); it != advice_taken_.end()) {
        by_original_.try_emplace(Key({"0120", stan, time}), it->second);
      }
      return answer(ResponseCode::kApproved);
    }
    ++stats.advices_applied;
    // An advice reports a decision already made: no funds check, but it can still be reversed.
    Card* card = FindCard(pan);
    if (card && amount.ok()) {
      card->available_minor -= amount->minor_units();
      auto taken =
          std::make_shared<Taken>(Taken{std::string(pan), amount->minor_units(), false, false});
      by_original_[Key({"0120", stan, time})] = taken;
      by_terminal_stan_[Key({terminal, stan})] = taken;
      advice_taken_[key] = taken;
    }
    return answer(ResponseCode::kApproved);
  }

  if (base == "0220" && request.Get(90).size() == kOriginalDataChars) {
    // A completion of an authorization (DE 90 names it): the hold becomes the completed amount,
    // once; always acknowledged.
    std::string key = Key({"0220", terminal, advice_id, time});
    if (!advice_keys_.insert(key).second) {
      ++stats.advice_repeats;
      return answer(ResponseCode::kApproved);
    }
    std::string_view original = request.Get(90);
    auto it = by_original_.find(
        Key({BaseMti(original.substr(0, 4)), original.substr(4, 6), original.substr(10, 10)}));
    if (it != by_original_.end() && !it->second->reversed && !it->second->completed &&
        amount.ok()) {
      Taken& taken = *it->second;
      if (Card* card = FindCard(taken.pan)) {
        card->available_minor += taken.minor - amount->minor_units();
      }
      taken.minor = amount->minor_units();
      taken.completed = true;
      ++stats.advices_applied;
    }
    return answer(ResponseCode::kApproved);
  }

  if (base != "0100" && base != "0200") return answer(ResponseCode::kInvalidTransaction);

  auto decline = [&](ResponseCode code) {
    ++stats.declines;
    return answer(code);
  };
  Card* card = FindCard(pan);
  if (card == nullptr) return decline(ResponseCode::kInvalidCardNumber);
  if (base == "0200" && type == kTypeBalanceInquiry) {
    ++stats.approvals;
    // DE 54: account type 00, amount type 02 (available), currency, C/D, 12 digits.
    char de54[32];
    const int64_t v = card->available_minor;
    std::snprintf(de54, sizeof de54, "0002%03u%c%012lld", static_cast<unsigned>(card->currency),
                  v < 0 ? 'D' : 'C', static_cast<long long>(v < 0 ? -v : v) % 1'000'000'000'000LL);
    KYTKIN_RETURN_IF_ERROR(response.Set(54, de54));
    return answer(ResponseCode::kApproved);
  }
  if (!amount.ok()) return decline(ResponseCode::kFormatError);
  if (amount->currency() != card->currency || amount->minor_units() <= 0) {
    return decline(ResponseCode::kInvalidAmount);
  }
  int64_t debit_minor = 0;  // signed: what the approval takes from the card
  if (type == kTypeGoods) {
    debit_minor = amount->minor_units();
  } else if (base == "0200" && (type == kTypeRefund || type == kTypeReload)) {
    debit_minor = -amount->minor_units();
  } else {
    return decline(ResponseCode::kInvalidTransaction);
  }
  if (force_decline) return decline(ResponseCode::kDoNotHonour);
  ResponseCode approval = ResponseCode::kApproved;
  if (debit_minor > card->available_minor) {
    if (!partial_approvals || base != "0100" || card->available_minor <= 0) {
      return decline(ResponseCode::kInsufficientFunds);
    }
    // What the card has left, held and answered 10 with DE 4 the approved amount.
    debit_minor = card->available_minor;
    KYTKIN_RETURN_IF_ERROR(response.SetUint(4, static_cast<uint64_t>(debit_minor)));
    approval = ResponseCode::kPartialApproval;
    ++stats.partial_approvals;
  }
  card->available_minor -= debit_minor;
  auto taken = std::make_shared<Taken>(Taken{std::string(pan), debit_minor, false, false});
  by_original_[Key({base, stan, time})] = taken;
  by_terminal_stan_[Key({terminal, stan})] = taken;
  char approval_code[8];
  std::snprintf(approval_code, sizeof(approval_code), "%06llu",
                static_cast<unsigned long long>(next_approval_code_++ % 1000000));
  KYTKIN_RETURN_IF_ERROR(response.Set(38, approval_code));
  ++stats.approvals;
  return answer(approval);
}

// ---------------------------------------------------------------------------------------------
// IssuerSim

namespace {

class SimSession;

}  // namespace

struct IssuerSim::Impl {
  explicit Impl(const IssuerSimOptions& o, const iso8583::Dialect& d)
      : options(o), dialect(&d), acceptor(io), period_timer(io), rng(o.seed) {
    behavior = o.behavior;
    if (o.unknown_card_balance_minor >= 0) {
      ledger.SetUnknownCardBalance(Amount(o.unknown_card_balance_minor, o.currency));
    }
  }

  void Accept();
  void CloseAll();
  void SchedulePeriod(bool next_down);

  // Draws the fate of one card answer. REQUIRES: mu held.
  struct Fate {
    bool disconnect = false;
    bool drop = false;
    bool force_decline = false;
    int64_t delay_us = 0;
  };
  Fate DrawFate() {
    std::uniform_real_distribution<double> unit(0.0, 1.0);
    Fate f;
    f.disconnect = behavior.disconnect_share > 0 && unit(rng) < behavior.disconnect_share;
    f.drop = behavior.drop_share > 0 && unit(rng) < behavior.drop_share;
    bool late = behavior.late_share > 0 && unit(rng) < behavior.late_share;
    f.force_decline = behavior.decline_share > 0 && unit(rng) < behavior.decline_share;
    f.delay_us = behavior.latency_fixed_us;
    if (behavior.latency_exponential_mean_us > 0) {
      std::exponential_distribution<double> exp(
          1.0 / static_cast<double>(behavior.latency_exponential_mean_us));
      f.delay_us += static_cast<int64_t>(exp(rng));
    }
    if (late) f.delay_us += behavior.late_delay_us;
    if (f.disconnect) {
      ++stats.disconnects;
    } else if (f.drop) {
      ++stats.dropped;
    } else if (late) {
      ++stats.late;
    }
    return f;
  }

  IssuerSimOptions options;
  const iso8583::Dialect* dialect;
  asio::io_context io;
  tcp::acceptor acceptor;
  asio::steady_timer period_timer;
  std::thread thread;
  std::atomic<bool> is_down{false};
  std::atomic<bool> stopped{false};
  std::vector<std::weak_ptr<SimSession>> sessions;  // io thread only

  mutable std::mutex mu;
  IssuerSimLedger ledger;      // guarded by mu
  IssuerSimStats stats;        // guarded by mu
  IssuerSimBehavior behavior;  // guarded by mu
  std::mt19937_64 rng;         // guarded by mu
};

namespace {

// One link from a switch: reads frames, answers each after its drawn delay.
class SimSession : public std::enable_shared_from_this<SimSession> {
 public:
  SimSession(IssuerSim::Impl& sim, tcp::socket socket)
      : sim_(sim),
        socket_(std::move(socket)),
        decoder_(
            iso8583::FrameDecoderOptions{sim.options.framing, sim.options.frame_bytes_max, 16384}),
        request_(*sim.dialect),
        response_(*sim.dialect) {}

  void Start() { DoRead(); }
  void Close() {
    boost::system::error_code ignored;
    socket_.close(ignored);
  }

 private:
  void DoRead() {
    std::span<uint8_t> space = decoder_.WritableSpan();
    if (space.empty()) return Close();
    socket_.async_read_some(asio::buffer(space.data(), space.size()),
                            [self = shared_from_this()](boost::system::error_code ec, size_t n) {
                              self->OnRead(ec, n);
                            });
  }

  void OnRead(boost::system::error_code ec, size_t n) {
    if (ec) return Close();
    decoder_.Commit(n);
    for (;;) {
      auto frame = decoder_.Next();
      if (frame.state == iso8583::FrameDecoder::State::kError) return Close();
      if (frame.state == iso8583::FrameDecoder::State::kNeedMore) break;
      if (!HandleFrame(frame.payload)) return Close();
    }
    if (socket_.is_open()) DoRead();
  }

  // False when the connection should close (a drawn disconnect or a stuck peer).
  bool HandleFrame(std::span<const uint8_t> payload) {
    IssuerSim::Impl::Fate fate;
    bool answer = false;
    {
      std::lock_guard<std::mutex> lock(sim_.mu);
      ++sim_.stats.requests;
      if (!request_.Parse(payload).ok()) {
        ++sim_.stats.parse_errors;
        return true;
      }
      const bool network = BaseMti(request_.mti()) == "0800";
      if (!network) fate = sim_.DrawFate();
      if (network && sim_.behavior.ignore_echoes && request_.Get(70) == kNetworkEcho) {
        fate.drop = true;
      }
      auto answered = sim_.ledger.Answer(request_, fate.force_decline, response_, sim_.stats,
                                         sim_.behavior.partial_approvals);
      answer = answered.ok() && *answered;
    }
    if (fate.disconnect) return false;
    if (!answer || fate.drop) return true;
    auto frame = std::make_shared<std::vector<uint8_t>>(kResponseBytesMax);
    const size_t header = iso8583::FrameHeaderBytes(sim_.options.framing);
    auto packed = response_.Pack(std::span<uint8_t>(*frame).subspan(header));
    if (!packed.ok() || !iso8583::WriteFrameHeader(sim_.options.framing, *packed, *frame).ok()) {
      return true;
    }
    frame->resize(header + *packed);
    if (fate.delay_us <= 0) return Enqueue(std::move(*frame));
    auto timer = std::make_shared<asio::steady_timer>(socket_.get_executor());
    timer->expires_after(std::chrono::microseconds(fate.delay_us));
    timer->async_wait([self = shared_from_this(), timer, frame](boost::system::error_code ec) {
      if (ec || !self->socket_.is_open()) return;
      if (!self->Enqueue(std::move(*frame))) self->Close();
    });
    return true;
  }

  bool Enqueue(std::vector<uint8_t> frame) {
    if (out_.size() >= kWriteQueueFramesMax) return false;
    out_.push_back(std::move(frame));
    if (out_.size() == 1) DoWrite();
    return true;
  }

  void DoWrite() {
    asio::async_write(socket_, asio::buffer(out_.front()),
                      [self = shared_from_this()](boost::system::error_code ec, size_t) {
                        if (ec) return self->Close();
                        self->out_.pop_front();
                        if (!self->out_.empty()) self->DoWrite();
                      });
  }

  IssuerSim::Impl& sim_;
  tcp::socket socket_;
  iso8583::FrameDecoder decoder_;
  iso8583::Message request_;
  iso8583::Message response_;
  std::deque<std::vector<uint8_t>> out_;
};

}  // namespace

void IssuerSim::Impl::Accept() {
  acceptor.async_accept([this](boost::system::error_code ec, tcp::socket socket) {
    if (stopped) return;
    if (!ec) {
      if (is_down) {
        boost::system::error_code ignored;
        socket.close(ignored);
        std::lock_guard<std::mutex> lock(mu);
        ++stats.refused_while_down;
      } else {
        boost::system::error_code ignored;
        socket.set_option(tcp::no_delay(true), ignored);
        auto session = std::make_shared<SimSession>(*this, std::move(socket));
        std::erase_if(sessions, [](const std::weak_ptr<SimSession>& s) { return s.expired(); });
        sessions.push_back(session);
        {
          std::lock_guard<std::mutex> lock(mu);
          ++stats.connections;
        }
        session->Start();
      }
    }
    if (acceptor.is_open()) Accept();
  });
}

void IssuerSim::Impl::CloseAll() {
  for (auto& weak : sessions) {
    if (auto s = weak.lock()) s->Close();
  }
  sessions.clear();
}

void IssuerSim::Impl::SchedulePeriod(bool next_down) {
  const int64_t wait_ms = next_down ? options.up_period_ms : options.down_period_ms;
  period_timer.expires_after(std::chrono::milliseconds(wait_ms));
  period_timer.async_wait([this, next_down](boost::system::error_code ec) {
    if (ec || stopped) return;
    is_down = next_down;
    if (next_down) CloseAll();
    SchedulePeriod(!next_down);
  });
}

IssuerSim::IssuerSim(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

IssuerSim::~IssuerSim() { Stop(); }

Result<std::unique_ptr<IssuerSim>> IssuerSim::Start(const IssuerSimOptions& options) {
  const iso8583::Dialect* dialect = iso8583::FindDialect(options.dialect);
  if (dialect == nullptr) {
    return Status::InvalidArgument("issuer-sim: unknown dialect '" + options.dialect + "'");
  }
  auto impl = std::make_unique<Impl>(options, *dialect);
  boost::system::error_code ec;
  auto address = asio::ip::make_address(options.host, ec);
  if (ec) return Status::InvalidArgument("issuer-sim: bad address '" + options.host + "'");
  tcp::endpoint endpoint(address, options.port);
  const std::string where = options.host + ":" + std::to_string(options.port);
  impl->acceptor.open(endpoint.protocol(), ec);
  if (!ec) impl->acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) impl->acceptor.bind(endpoint, ec);
  if (!ec) impl->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return Status::Unavailable("issuer-sim: cannot listen on " + where + ": " + ec.message());
  std::unique_ptr<IssuerSim> sim(new IssuerSim(std::move(impl)));
  sim->port_ = sim->impl_->acceptor.local_endpoint().port();
  Impl& i = *sim->impl_;
  i.Accept();
  if (options.up_period_ms > 0 && options.down_period_ms > 0) i.SchedulePeriod(true);
  i.thread = std::thread([&i] { i.io.run(); });
  return sim;
}

void IssuerSim::Stop() {
  Impl& i = *impl_;
  if (i.stopped.exchange(true)) return;
  asio::post(i.io, [&i] {
    boost::system::error_code ignored;
    i.acceptor.close(ignored);
    i.period_timer.cancel();
    i.CloseAll();
    i.io.stop();
  });
  if (i.thread.joinable()) i.thread.join();
}

void IssuerSim::AddCard(std::string_view pan, Amount balance) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->ledger.AddCard(pan, balance);
}

void IssuerSim::SetBehavior(const IssuerSimBehavior& behavior) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->behavior = behavior;
}

void IssuerSim::SetDown(bool down) {
  Impl& i = *impl_;
  i.is_down = down;
  if (down) asio::post(i.io, [&i] { i.CloseAll(); });
}

bool IssuerSim::down() const { return impl_->is_down; }

IssuerSimStats IssuerSim::stats() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->stats;
}

Result<int64_t> IssuerSim::AvailableMinor(std::string_view pan) const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->ledger.AvailableMinor(pan);
}

}  // namespace kytkin
