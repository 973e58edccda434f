// Demo data for `kytkin serve --demo`: a small franchise (three shops of one café chain, each
// with a terminal), its acquirer, and cardholder accounts with well-known test card numbers.
// Seeding is idempotent: what exists already is left as it is, so a restart keeps balances.
#pragma once

#include <cstdint>
#include <ostream>
#include <string_view>

#include "core/status.h"
#include "storage/store.h"

namespace kytkin {

struct DemoCard {
  std::string_view pan;  // public test numbers (Luhn-valid); demo only
  std::string_view expiry_yymm;
  std::string_view description;
};

// The demo cards, as printed on start.
std::span<const DemoCard> DemoCards();

// Creates the demo accounts and cards when absent and prints a table of them to `out`.
Status SeedDemoData(storage::Store& store, std::ostream& out);

}  // namespace kytkin
