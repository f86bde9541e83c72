#include "base/command_line.h"

#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"

namespace hybrid::base {
namespace {

// Ours: every file that is not abseil's own (its --flagfile, --fromenv, ...).
bool OurFile(absl::string_view file) { return !absl::StrContains(file, "absl/"); }

}  // namespace

std::vector<char*> ParseCommandLine(int argc, char** argv, absl::string_view usage) {
  absl::FlagsUsageConfig config;
  config.contains_helpshort_flags = OurFile;
  config.contains_help_flags = OurFile;
  absl::SetFlagsUsageConfig(config);
  absl::SetProgramUsageMessage(usage);
  return absl::ParseCommandLine(argc, argv);
}

}  // namespace hybrid::base
