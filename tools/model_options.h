// Options every model command shares (--device, --dtype, --heads, --key, --tf32, --verify), parsed in
// one place.
//
//   CommandSpec spec{..., with_model_options({{"json", 0, nullptr, "..."}}), run};
//   ModelOptions options = model_options(args);
#pragma once

#include <vector>

#include "model/gpt2.h"
#include "tools/cli.h"

namespace pthrun::cli {

// `options` followed by --device, --dtype, --heads, --key, --tf32 and --verify.
std::vector<OptionSpec> with_model_options(std::vector<OptionSpec> options);
// Throws UsageError for malformed values and pthrun::Error for a device that is not there.
ModelOptions model_options(const ParsedArgs& args);

}  // namespace pthrun::cli
