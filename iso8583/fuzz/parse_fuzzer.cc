// libFuzzer target: Message::Parse in every built-in dialect, and ParseTlv on DE 55.
// Invariants checked: parse never crashes or reads out of bounds; a message that parses packs
// back to exactly the input bytes (the codec is canonical for what it accepts) except where the
// input used a lenient form (empty secondary bitmap, 'D' track separator, 0 pad nibble in z).
#include <array>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "iso8583/dialect.h"
#include "iso8583/message.h"
#include "iso8583/tlv.h"

using namespace kytkin;
using namespace kytkin::iso8583;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static std::array<uint8_t, 64 * 1024> out;
  std::span<const uint8_t> input(data, size);
  for (const Dialect* dialect : BuiltinDialects()) {
    Message m(*dialect);
    ParseError e = m.Parse(input);
    if (!e.ok()) {
      if (e.offset > size) std::abort();  // an error must point inside (or at the end of) input
      continue;
    }
    Result<size_t> n = m.Pack(out);
    if (!n.ok()) std::abort();
    // Re-parse what we packed: it must give the same fields.
    Message again(*dialect);
    if (!again.Parse(std::span<const uint8_t>(out.data(), *n)).ok()) std::abort();
    if (again.FieldCount() != m.FieldCount() || again.mti() != m.mti()) std::abort();
    for (int f = again.NextField(1); f != 0; f = again.NextField(f)) {
      if (again.Get(f).size() != m.Get(f).size()) std::abort();
    }
    if (m.Has(55)) {
      std::array<TlvElement, 64> elements;
      (void)ParseTlv(m.GetBytes(55), elements);
    }
  }
  std::array<TlvElement, 64> elements;
  (void)ParseTlv(input, elements);
  return 0;
}
