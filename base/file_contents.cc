#include "base/file_contents.h"

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"

namespace hybrid::base {

absl::StatusOr<std::string> ReadFileContents(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream data;
  data << in.rdbuf();
  if (!in) return absl::UnavailableError(absl::StrCat("cannot read '", path, "'"));
  return data.str();
}

}  // namespace hybrid::base
