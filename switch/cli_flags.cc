#include "switch/cli_flags.h"

#include <algorithm>
#include <charconv>

namespace kytkin::cli {

void FlagSet::String(std::string_view name, std::string* out, std::string_view help) {
  flags_.push_back({std::string(name), std::string(help), *out, true, [out](std::string_view v) {
                      *out = std::string(v);
                      return Status::Ok();
                    }});
}

void FlagSet::Int(std::string_view name, int64_t* out, std::string_view help) {
  std::string flag(name);
  flags_.push_back(
      {flag, std::string(help), std::to_string(*out), true, [out, flag](std::string_view v) {
         int64_t parsed = 0;
         auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), parsed);
         if (ec != std::errc() || end != v.data() + v.size()) {
           return Status::InvalidArgument(flag + ": '" + std::string(v) +
                                          "' is not a whole number");
         }
         *out = parsed;
         return Status::Ok();
       }});
}

void FlagSet::Bool(std::string_view name, bool* out, std::string_view help) {
  flags_.push_back({std::string(name), std::string(help), "", false, [out](std::string_view) {
                      *out = true;
                      return Status::Ok();
                    }});
}

Status FlagSet::Parse(Args args, std::vector<std::string_view>* positional) {
  for (size_t i = 0; i < args.size(); ++i) {
    std::string_view arg = args[i];
    if (arg == "--help" || arg == "-h") {
      help_requested_ = true;
      continue;
    }
    if (!arg.starts_with("--")) {
      if (positional == nullptr) {
        return Status::InvalidArgument("unexpected argument '" + std::string(arg) + "'");
      }
      positional->push_back(arg);
      continue;
    }
    std::string_view name = arg;
    std::string_view value;
    bool inline_value = false;
    if (auto eq = arg.find('='); eq != std::string_view::npos) {
      name = arg.substr(0, eq);
      value = arg.substr(eq + 1);
      inline_value = true;
    }
    auto it =
        std::find_if(flags_.begin(), flags_.end(), [&](const Flag& f) { return f.name == name; });
    if (it == flags_.end()) return Status::InvalidArgument("unknown flag " + std::string(name));
    if (it->takes_value && !inline_value) {
      if (i + 1 >= args.size()) return Status::InvalidArgument(it->name + ": needs a value");
      value = args[++i];
    } else if (!it->takes_value && inline_value) {
      return Status::InvalidArgument(it->name + ": takes no value");
    }
    KYTKIN_RETURN_IF_ERROR(it->set(value));
    seen_.push_back(it->name);
  }
  return Status::Ok();
}

bool FlagSet::Seen(std::string_view name) const {
  return std::find(seen_.begin(), seen_.end(), name) != seen_.end();
}

std::string FlagSet::Help() const {
  std::string out;
  for (const Flag& f : flags_) {
    std::string left = "  " + f.name + (f.takes_value ? " VALUE" : "");
    if (left.size() < 26) left.resize(26, ' ');
    out += left + " " + f.help;
    if (f.takes_value && !f.default_text.empty()) out += " (default " + f.default_text + ")";
    out += "\n";
  }
  return out;
}

}  // namespace kytkin::cli
