// FlagSet: the flag parser of the `kytkin` subcommands, so every command reads flags the same
// way ("--flag value" or "--flag=value"), rejects unknown flags and names the flag at fault.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "switch/cli.h"

namespace kytkin::cli {

class FlagSet {
 public:
  // Each registration binds a flag ("--pan") to a variable whose current value is the default.
  void String(std::string_view name, std::string* out, std::string_view help);
  void Int(std::string_view name, int64_t* out, std::string_view help);
  void Bool(std::string_view name, bool* out, std::string_view help);  // takes no value

  // Parses `args`; arguments that are not flags go to `positional` (an error when it is null).
  // "--help" sets help_requested(). Errors: InvalidArgument naming the flag.
  Status Parse(Args args, std::vector<std::string_view>* positional = nullptr);
  bool help_requested() const { return help_requested_; }
  // True when the flag appeared on the command line.
  bool Seen(std::string_view name) const;

  // One line per flag: "  --pan VALUE   card number (default ...)".
  std::string Help() const;

 private:
  struct Flag {
    std::string name;
    std::string help;
    std::string default_text;
    bool takes_value = true;
    std::function<Status(std::string_view)> set;
  };
  std::vector<Flag> flags_;
  std::vector<std::string> seen_;
  bool help_requested_ = false;
};

}  // namespace kytkin::cli
