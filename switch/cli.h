// The `kytkin` command line: one binary, one function per subcommand.
//
// Each subcommand lives in its own file (cli_iso.cc, cli_storage.cc, ...) and is listed in the
// table in main.cc. A command receives the arguments after its own name, prints its result to
// stdout and its errors to stderr (naming the flag, field or line at fault), and returns the
// process exit code: 0 success, 1 failure of the work, 2 bad usage.
#pragma once

#include <span>
#include <string_view>

namespace kytkin::cli {

using Args = std::span<const std::string_view>;

struct Command {
  std::string_view name;     // "iso"
  std::string_view summary;  // one line for `kytkin help`
  int (*run)(Args args);
};

// Subcommands; each is defined in its own cli_*.cc.
int RunIso(Args args);         // kytkin iso decode|encode
int RunServe(Args args);       // kytkin serve: the switch
int RunTerm(Args args);        // kytkin term authorize|purchase|...: the terminal simulator
int RunAccounts(Args args);    // kytkin accounts import|create|show|block (cli_storage.cc)
int RunJournal(Args args);     // kytkin journal export|verify (cli_storage.cc)
int RunLedger(Args args);      // kytkin ledger verify (cli_storage.cc)
int RunLoad(Args args);        // kytkin load: the load benchmark (cli_load.cc)
int RunIssuerSim(Args args);   // kytkin issuer-sim: a remote issuer host for tests and demos
int RunSettle(Args args);      // kytkin settle FILE: acquirer batch file (cli_settle.cc)
int RunSettlement(Args args);  // kytkin settlement report|cutover|show (cli_settle.cc)

}  // namespace kytkin::cli
