// Bearer tokens: the file format, its errors (which never echo a token), and
// the UNAUTHENTICATED / PERMISSION_DENIED decisions for every role.
#include "server/core/access_tokens.h"

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"

namespace hybrid::server {
namespace {

constexpr char kReader[] = "reader-token-0123456789";
constexpr char kGateway[] = "gateway-token-0123456789";
constexpr char kOps[] = "ops-token-0123456789abcd";

AccessTokens Tokens() {
  absl::StatusOr<AccessTokens> tokens =
      AccessTokens::Parse(absl::StrCat("# client roles token\n\n", "dashboard read ", kReader, "\n",
                                       "gateway\tread,calibrate  ", kGateway, "\n", "  ops admin ", kOps, "   \n"),
                          "tokens");
  EXPECT_TRUE(tokens.ok()) << tokens.status();
  return *std::move(tokens);
}

std::string Bearer(const char* token) { return absl::StrCat("Bearer ", token); }

TEST(AccessTokens, EachTokenGrantsExactlyItsRoles) {
  const AccessTokens tokens = Tokens();
  EXPECT_EQ(tokens.size(), 3u);
  EXPECT_EQ(*tokens.Authorize(Bearer(kReader), Role::kRead), "dashboard");
  EXPECT_EQ(tokens.Authorize(Bearer(kReader), Role::kCalibrate).status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(tokens.Authorize(Bearer(kReader), Role::kAdmin).status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(*tokens.Authorize(Bearer(kGateway), Role::kRead), "gateway");
  EXPECT_EQ(*tokens.Authorize(Bearer(kGateway), Role::kCalibrate), "gateway");
  EXPECT_EQ(tokens.Authorize(Bearer(kGateway), Role::kAdmin).status().code(), absl::StatusCode::kPermissionDenied);
  // admin is not a superset: ops lists only admin.
  EXPECT_EQ(*tokens.Authorize(Bearer(kOps), Role::kAdmin), "ops");
  EXPECT_EQ(tokens.Authorize(Bearer(kOps), Role::kRead).status().code(), absl::StatusCode::kPermissionDenied);
}

TEST(AccessTokens, PermissionDeniedNamesClientAndRoleButNotTheToken) {
  const absl::Status denied = Tokens().Authorize(Bearer(kReader), Role::kAdmin).status();
  EXPECT_NE(denied.message().find("'dashboard'"), absl::string_view::npos) << denied;
  EXPECT_NE(denied.message().find("'admin'"), absl::string_view::npos) << denied;
  EXPECT_EQ(denied.message().find(kReader), absl::string_view::npos) << denied;
}

TEST(AccessTokens, MissingMalformedAndUnknownCredentialsAreUnauthenticated) {
  const AccessTokens tokens = Tokens();
  for (const std::string& header : {std::string(), std::string(kReader), std::string("Basic ") + kReader,
                                    std::string("Bearer "), Bearer("reader-token-012345678"),  // One short.
                                    Bearer("reader-token-0123456780"), Bearer("READER-TOKEN-0123456789")}) {
    const absl::Status status = tokens.Authorize(header, Role::kRead).status();
    EXPECT_EQ(status.code(), absl::StatusCode::kUnauthenticated) << "header '" << header << "': " << status;
    EXPECT_EQ(status.message().find("token-01"), absl::string_view::npos) << status;
  }
  EXPECT_TRUE(tokens.Authorize(std::string("bearer ") + kReader, Role::kRead).ok());  // Scheme is case-blind.
}

TEST(AccessTokens, FileErrorsNameTheLineAndNeverTheToken) {
  const std::string secret = "s3cret-s3cret-s3cret";
  auto error = [&](const std::string& text) {
    const absl::Status status = AccessTokens::Parse(text, "/etc/tokens").status();
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << text;
    EXPECT_EQ(status.message().find("s3cret"), absl::string_view::npos) << status;
    return std::string(status.message());
  };
  EXPECT_NE(error("a read\n").find("/etc/tokens:1: expected 3 fields"), std::string::npos);
  EXPECT_NE(error("# x\na read " + secret + " extra\n").find("/etc/tokens:2: expected 3 fields"), std::string::npos);
  EXPECT_NE(error("a write " + secret).find("unknown role 'write'"), std::string::npos);
  EXPECT_NE(error("a , " + secret).find("no role"), std::string::npos);
  EXPECT_NE(error("a read short-s3cret").find("at least 16"), std::string::npos);
  EXPECT_NE(error("a read " + secret + "\na admin " + secret + "-2").find(":2: client 'a' is listed twice"),
            std::string::npos);
  EXPECT_NE(error("a read " + secret + "\nb admin " + secret).find("same token as 'a'"), std::string::npos);
  EXPECT_NE(error("# only comments\n\n").find("no token is listed"), std::string::npos);
}

TEST(AccessTokens, LoadNamesAMissingFile) {
  const absl::Status status = AccessTokens::Load("/nonexistent/tokens").status();
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(status.message().find("/nonexistent/tokens"), absl::string_view::npos);
}

}  // namespace
}  // namespace hybrid::server
