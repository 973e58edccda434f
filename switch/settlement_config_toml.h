// The TOML reader of SettlementConfig, apart from settlement_config.h so that only the config
// parser compiles toml++.
#pragma once

#include <toml++/toml.h>

#include <string_view>

#include "core/status.h"
#include "switch/settlement_config.h"

namespace kytkin {

// Reads the [settlement] table over `out` (absent keys keep out's values); `source` names the
// file in messages, keys are named "settlement.KEY".
Status ReadSettlementToml(const toml::table& table, std::string_view source, SettlementConfig& out);

}  // namespace kytkin
