// The status page's HTML (server/http/status_page.html, compiled in by CMake so
// the binary needs no files at run time).
#pragma once

#include "absl/strings/string_view.h"

namespace hybrid::server {

absl::string_view StatusPageHtml();

}  // namespace hybrid::server
