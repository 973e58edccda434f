#include "switch/metrics.h"

#include <bit>
#include <cassert>
#include <charconv>

namespace kytkin::metrics {

int Histogram::BucketIndex(uint64_t micros) {
  if (micros <= 1) return 0;
  // Smallest i with 2^i >= micros is bit_width(micros - 1).
  const int i = static_cast<int>(std::bit_width(micros - 1));
  return i < kBucketCount - 1 ? i : kBucketCount - 1;
}

Registry::Series& Registry::GetSeries(std::string_view name, std::string_view help, Type type,
                                      const Labels& labels) {
  std::lock_guard lock(mu_);
  Family* family = nullptr;
  for (auto& f : families_) {
    if (f->name == name) {
      family = f.get();
      break;
    }
  }
  if (family == nullptr) {
    families_.push_back(
        std::make_unique<Family>(Family{std::string(name), std::string(help), type, {}}));
    family = families_.back().get();
  }
  assert(family->type == type && "metric registered twice with different types");
  for (auto& s : family->series) {
    if (s->labels == labels) return *s;
  }
  auto series = std::make_unique<Series>();
  series->labels = labels;
  switch (type) {
    case Type::kCounter:
      series->counter = std::make_unique<Counter>();
      break;
    case Type::kGauge:
      series->gauge = std::make_unique<Gauge>();
      break;
    case Type::kHistogram:
      series->histogram = std::make_unique<Histogram>();
      break;
  }
  family->series.push_back(std::move(series));
  return *family->series.back();
}

Counter& Registry::GetCounter(std::string_view name, std::string_view help, const Labels& labels) {
  return *GetSeries(name, help, Type::kCounter, labels).counter;
}

Gauge& Registry::GetGauge(std::string_view name, std::string_view help, const Labels& labels) {
  return *GetSeries(name, help, Type::kGauge, labels).gauge;
}

Histogram& Registry::GetHistogram(std::string_view name, std::string_view help,
                                  const Labels& labels) {
  return *GetSeries(name, help, Type::kHistogram, labels).histogram;
}

namespace {

// Label values escape backslash, double quote and newline; help text escapes backslash and
// newline (Prometheus text format 0.0.4).
void AppendEscaped(std::string& out, std::string_view text, bool quote) {
  for (char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (quote && c == '"') {
      out += "\\\"";
    } else {
      out += c;
    }
  }
}

void AppendLabels(std::string& out, const Labels& labels, std::string_view extra_name = {},
                  std::string_view extra_value = {}) {
  if (labels.empty() && extra_name.empty()) return;
  out += '{';
  bool first = true;
  for (const auto& [k, v] : labels) {
    if (!first) out += ',';
    first = false;
    out += k;
    out += "=\"";
    AppendEscaped(out, v, true);
    out += '"';
  }
  if (!extra_name.empty()) {
    if (!first) out += ',';
    out += extra_name;
    out += "=\"";
    out += extra_value;
    out += '"';
  }
  out += '}';
}

template <typename T>
void AppendNumber(std::string& out, T value) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), value);
  (void)ec;  // 24 characters hold any 64-bit integer
  out.append(buf, end);
}

}  // namespace

std::string Registry::RenderPrometheus() const {
  std::string out;
  out.reserve(4096);
  std::lock_guard lock(mu_);
  for (const auto& f : families_) {
    out += "# HELP ";
    out += f->name;
    out += ' ';
    AppendEscaped(out, f->help, false);
    out += "\n# TYPE ";
    out += f->name;
    out += f->type == Type::kCounter ? " counter\n"
           : f->type == Type::kGauge ? " gauge\n"
                                     : " histogram\n";
    for (const auto& s : f->series) {
      if (f->type != Type::kHistogram) {
        out += f->name;
        AppendLabels(out, s->labels);
        out += ' ';
        if (s->counter) {
          AppendNumber(out, s->counter->value());
        } else {
          AppendNumber(out, s->gauge->value());
        }
        out += '\n';
        continue;
      }
      const Histogram& h = *s->histogram;
      uint64_t cumulative = 0;
      for (int i = 0; i < Histogram::kBucketCount; ++i) {
        cumulative += h.bucket(i);
        std::string bound;
        if (i == Histogram::kBucketCount - 1) {
          bound = "+Inf";
        } else {
          AppendNumber(bound, Histogram::BucketBoundMicros(i));
        }
        out += f->name;
        out += "_bucket";
        AppendLabels(out, s->labels, "le", bound);
        out += ' ';
        AppendNumber(out, cumulative);
        out += '\n';
      }
      out += f->name;
      out += "_sum";
      AppendLabels(out, s->labels);
      out += ' ';
      AppendNumber(out, h.sum_us());
      out += '\n';
      out += f->name;
      out += "_count";
      AppendLabels(out, s->labels);
      out += ' ';
      AppendNumber(out, h.count());
      out += '\n';
    }
  }
  return out;
}

}  // namespace kytkin::metrics
