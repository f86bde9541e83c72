// The command line of hybridserve's binaries (hybridserve, hybridctl,
// hybridload): sets the usage line and parses the flags, with --help listing
// every flag the binary has — whichever of our files defines it (abseil's
// default --help shows only flags from a file named after the program, which
// left `hybridserve --help` saying "No flags matched" and hid hybridctl's
// connection flags such as --target).
//
//   int main(int argc, char** argv) {
//     std::vector<char*> args = hybrid::base::ParseCommandLine(argc, argv, "hybridctl COMMAND [MODEL] [flags]");
//
// --helpfull still lists abseil's own flags too. Call once, from main.
#pragma once

#include <vector>

#include "absl/strings/string_view.h"

namespace hybrid::base {

// The positional arguments (argv[0] first), as absl::ParseCommandLine returns
// them; exits with the usage on --help and with an error on an unknown flag.
std::vector<char*> ParseCommandLine(int argc, char** argv, absl::string_view usage);

}  // namespace hybrid::base
