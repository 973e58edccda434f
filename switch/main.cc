// kytkin: the single binary of the switch and its operator tools.
#include <array>
#include <exception>
#include <iostream>
#include <string_view>
#include <vector>

#include "switch/cli.h"

namespace kytkin::cli {
namespace {

constexpr std::array kCommands = {
    Command{"iso", "decode and encode ISO 8583 messages (hex <-> JSON)", &RunIso},
    Command{"serve", "run the switch: ISO 8583, gRPC and HTTP listeners on the ledger", &RunServe},
    Command{"term",
            "terminal simulator: send one authorization, reversal, echo... and print the answer",
            &RunTerm},
    Command{"load", "load benchmark: open- or closed-loop ISO 8583 / gRPC traffic, latency report",
            &RunLoad},
    Command{"accounts", "ledger accounts and cards: import CSV, create, show, block", &RunAccounts},
    Command{"journal", "export the journal (jsonl|csv) or verify its hash chain", &RunJournal},
    Command{"ledger", "verify the ledger's invariants (balances, holds, no overdraft)", &RunLedger},
    Command{"issuer-sim", "a remote issuer host over ISO 8583, with latency and faults",
            &RunIssuerSim},
    Command{"settle", "settle an acquirer batch file (CSV): post, reconcile, per-item report",
            &RunSettle},
    Command{"settlement", "settlement report per business date, cut-over, batch details",
            &RunSettlement},
};

int Help(std::ostream& out) {
  out << "usage: kytkin <command> [args]\n\ncommands:\n";
  for (const Command& c : kCommands) out << "  " << c.name << "\t" << c.summary << "\n";
  out << "\n`kytkin <command> --help` describes a command.\n";
  return 0;
}

}  // namespace
}  // namespace kytkin::cli

int main(int argc, char** argv) {
  using namespace kytkin::cli;
  std::vector<std::string_view> args(argv + 1, argv + argc);
  if (args.empty()) {
    Help(std::cerr);
    return 2;
  }
  if (args[0] == "help" || args[0] == "--help" || args[0] == "-h") return Help(std::cout);
  for (const Command& c : kCommands) {
    if (c.name == args[0]) {
      try {
        return c.run(Args(args).subspan(1));
      } catch (const std::exception& e) {
        // Exceptions are for start-up and tools only; one clear line, non-zero exit.
        std::cerr << "kytkin " << c.name << ": " << e.what() << "\n";
        return 1;
      }
    }
  }
  std::cerr << "kytkin: unknown command '" << args[0] << "' (see `kytkin help`)\n";
  return 2;
}
