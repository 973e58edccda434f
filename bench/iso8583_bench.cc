// ISO 8583 codec micro benchmarks (iso8583/): parse and pack of a typical chip 0100 (15 fields
// including DE 35 and 111 bytes of DE 55) and of its 0110, in each built-in dialect.
// The messages are fixed (iso8583/testdata/typical.h); no randomness.
//
//   build/bin/iso8583_bench --benchmark_min_time=0.2
#include <benchmark/benchmark.h>

#include <array>
#include <cstdlib>
#include <iostream>

#include "iso8583/dialect.h"
#include "iso8583/message.h"
#include "iso8583/testdata/typical.h"

namespace kytkin::iso8583 {
namespace {

struct Wire {
  std::array<uint8_t, 2048> bytes{};
  size_t size = 0;
  std::span<const uint8_t> span() const { return {bytes.data(), size}; }
};

void Check(bool ok, const char* what) {
  if (!ok) {
    std::cerr << "iso8583_bench: " << what << " failed\n";
    std::abort();
  }
}

const Dialect& DialectArg(const benchmark::State& state) {
  return *BuiltinDialects()[static_cast<size_t>(state.range(0))];
}

Wire Packed0100(const Dialect& d) {
  Message m(d);
  Check(testdata::FillTypical0100(m).ok(), "fill 0100");
  Wire w;
  Result<size_t> n = m.Pack(w.bytes);
  Check(n.ok(), "pack 0100");
  w.size = *n;
  return w;
}

Wire Packed0110(const Dialect& d) {
  Message request(d), response(d);
  Check(testdata::FillTypical0100(request).ok(), "fill 0100");
  Check(testdata::BuildTypical0110(request, response).ok(), "build 0110");
  Wire w;
  Result<size_t> n = response.Pack(w.bytes);
  Check(n.ok(), "pack 0110");
  w.size = *n;
  return w;
}

void BM_Parse0100(benchmark::State& state) {
  const Dialect& d = DialectArg(state);
  state.SetLabel(d.name);
  Wire w = Packed0100(d);
  Message m(d);
  for (auto _ : state) {
    ParseError e = m.Parse(w.span());
    benchmark::DoNotOptimize(e);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * w.size));
}

void BM_Pack0100(benchmark::State& state) {
  const Dialect& d = DialectArg(state);
  state.SetLabel(d.name);
  Wire w = Packed0100(d);
  Message m(d);
  Check(m.Parse(w.span()).ok(), "parse 0100");
  std::array<uint8_t, 2048> out;
  for (auto _ : state) {
    Result<size_t> n = m.Pack(out);
    benchmark::DoNotOptimize(n);
    benchmark::ClobberMemory();
  }
}

// The budget line of the issue: parse a 0100 and pack it again.
void BM_ParsePack0100(benchmark::State& state) {
  const Dialect& d = DialectArg(state);
  state.SetLabel(d.name);
  Wire w = Packed0100(d);
  Message m(d);
  std::array<uint8_t, 2048> out;
  for (auto _ : state) {
    ParseError e = m.Parse(w.span());
    benchmark::DoNotOptimize(e);
    Result<size_t> n = m.Pack(out);
    benchmark::DoNotOptimize(n);
    benchmark::ClobberMemory();
  }
}

void BM_Parse0110(benchmark::State& state) {
  const Dialect& d = DialectArg(state);
  state.SetLabel(d.name);
  Wire w = Packed0110(d);
  Message m(d);
  for (auto _ : state) {
    ParseError e = m.Parse(w.span());
    benchmark::DoNotOptimize(e);
  }
}

void BM_Pack0110(benchmark::State& state) {
  const Dialect& d = DialectArg(state);
  state.SetLabel(d.name);
  Wire w = Packed0110(d);
  Message m(d);
  Check(m.Parse(w.span()).ok(), "parse 0110");
  std::array<uint8_t, 2048> out;
  for (auto _ : state) {
    Result<size_t> n = m.Pack(out);
    benchmark::DoNotOptimize(n);
    benchmark::ClobberMemory();
  }
}

// What a switch does per request: parse the 0100, echo fields into a 0110, set 38/39, pack.
void BM_Parse0100Answer0110(benchmark::State& state) {
  const Dialect& d = DialectArg(state);
  state.SetLabel(d.name);
  Wire w = Packed0100(d);
  Message request(d), response(d);
  std::array<uint8_t, 2048> out;
  for (auto _ : state) {
    ParseError e = request.Parse(w.span());
    benchmark::DoNotOptimize(e);
    Status s = testdata::BuildTypical0110(request, response);
    benchmark::DoNotOptimize(s);
    Result<size_t> n = response.Pack(out);
    benchmark::DoNotOptimize(n);
    benchmark::ClobberMemory();
  }
}

void Dialects(benchmark::internal::Benchmark* b) {
  for (size_t i = 0; i < BuiltinDialects().size(); ++i) b->Arg(static_cast<int64_t>(i));
}

BENCHMARK(BM_Parse0100)->Apply(Dialects);
BENCHMARK(BM_Pack0100)->Apply(Dialects);
BENCHMARK(BM_ParsePack0100)->Apply(Dialects);
BENCHMARK(BM_Parse0110)->Apply(Dialects);
BENCHMARK(BM_Pack0110)->Apply(Dialects);
BENCHMARK(BM_Parse0100Answer0110)->Apply(Dialects);

}  // namespace
}  // namespace kytkin::iso8583

BENCHMARK_MAIN();
