// Proves the data path of the codec does not touch the heap: parsing a typical 0100, building
// and packing the 0110, and running the frame decoder. This binary replaces the global operator
// new/delete with counting versions, so it is its own test executable.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>

#include "iso8583/dialect.h"
#include "iso8583/framing.h"
#include "iso8583/message.h"
#include "iso8583/testdata/typical.h"

namespace {
std::atomic<uint64_t> g_allocations{0};
}  // namespace

void* operator new(std::size_t size) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t size) { return ::operator new(size); }
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  return std::malloc(size == 0 ? 1 : size);
}
void* operator new[](std::size_t size, const std::nothrow_t& tag) noexcept {
  return ::operator new(size, tag);
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }

namespace kytkin::iso8583 {
namespace {

uint64_t Allocations() { return g_allocations.load(std::memory_order_relaxed); }

TEST(NoHeap, CounterSeesAllocations) {
  // Guards the guard: if operator new were not replaced, the real tests would pass vacuously.
  const uint64_t before = Allocations();
  auto* p = new int(1);
  EXPECT_EQ(Allocations(), before + 1);
  delete p;
}

TEST(NoHeap, ParseTypical0100AndPack0110InEveryDialect) {
  for (const Dialect* dialect : BuiltinDialects()) {
    SCOPED_TRACE(dialect->name);
    // Set-up (allowed to allocate): the wire bytes of a typical 0100.
    Message source(*dialect);
    ASSERT_TRUE(testdata::FillTypical0100(source).ok());
    std::array<uint8_t, 1024> wire;
    Result<size_t> wire_size = source.Pack(wire);
    ASSERT_TRUE(wire_size.ok());
    Message request(*dialect);
    Message response(*dialect);
    std::array<uint8_t, 1024> out;

    const uint64_t before = Allocations();
    for (int i = 0; i < 100; ++i) {
      ParseError e = request.Parse(std::span<const uint8_t>(wire.data(), *wire_size));
      ASSERT_TRUE(e.ok());
      ASSERT_TRUE(request.Has(35) && request.Has(55));
      Status s = testdata::BuildTypical0110(request, response);
      ASSERT_TRUE(s.ok());
      Result<size_t> n = response.Pack(out);
      ASSERT_TRUE(n.ok());
      ASSERT_GT(*n, 0u);
    }
    EXPECT_EQ(Allocations() - before, 0u);
  }
}

TEST(NoHeap, PackTypical0100) {
  for (const Dialect* dialect : BuiltinDialects()) {
    Message m(*dialect);
    std::array<uint8_t, 1024> out;
    const uint64_t before = Allocations();
    ASSERT_TRUE(testdata::FillTypical0100(m).ok());
    ASSERT_TRUE(m.Pack(out).ok());
    EXPECT_EQ(Allocations() - before, 0u) << dialect->name;
  }
}

TEST(NoHeap, FrameDecoderAfterConstruction) {
  FrameDecoderOptions options;
  options.framing = Framing::kBinary2;
  FrameDecoder decoder(options);
  std::array<uint8_t, 2 + 100> frame{};
  ASSERT_TRUE(WriteFrameHeader(Framing::kBinary2, 100, frame).ok());
  const uint64_t before = Allocations();
  int frames = 0;
  for (int i = 0; i < 1000; ++i) {
    ASSERT_EQ(decoder.Feed(frame), frame.size());
    while (decoder.Next().state == FrameDecoder::State::kFrame) ++frames;
  }
  EXPECT_EQ(frames, 1000);
  EXPECT_EQ(Allocations() - before, 0u);
}

TEST(NoHeap, FailedParseDoesNotAllocateEither) {
  // The "answer 30" path: a bad 0100 still yields MTI, DE 11 and DE 41 without the heap.
  const Dialect& dialect = *FindDialect("iso87-ascii");
  Message source(dialect);
  ASSERT_TRUE(testdata::FillTypical0100(source).ok());
  std::array<uint8_t, 1024> wire;
  size_t size = *source.Pack(wire);
  wire[24] = 'X';  // inside DE 2
  Message request(dialect);
  const uint64_t before = Allocations();
  ParseError e = request.Parse(std::span<const uint8_t>(wire.data(), size));
  EXPECT_EQ(Allocations() - before, 0u);
  EXPECT_EQ(e.reason, ParseErrorReason::kBadCharacter);
  EXPECT_EQ(e.field, 2);
  EXPECT_EQ(request.Get(11), "000123");
  EXPECT_EQ(request.Get(41), "TERM0001");
}

}  // namespace
}  // namespace kytkin::iso8583
