#include "base/model_name.h"

#include <gtest/gtest.h>

#include <string>

namespace hybrid::base {
namespace {

TEST(ModelName, AcceptsTheDocumentedCharacterSet) {
  for (const char* name : {"lorenz63", "PK-PD_v2.1", "a", "0model"}) EXPECT_TRUE(IsValidModelName(name)) << name;
  EXPECT_TRUE(IsValidModelName(std::string(kMaxModelNameLength, 'm')));
}

TEST(ModelName, RefusesNamesThatCouldEscapeOrHide) {
  for (const std::string& name :
       {std::string("lorenz63\0x", 10), std::string("."), std::string(".."), std::string("../lorenz63"),
        std::string("a/b"), std::string(".hidden"), std::string("-flag"), std::string("with space"),
        std::string("tab\t"), std::string("ünïcode"), std::string(kMaxModelNameLength + 1, 'm'), std::string()}) {
    EXPECT_FALSE(IsValidModelName(name)) << name;
  }
}

TEST(ModelName, ErrorNamesTheFieldAndEscapesTheName) {
  const absl::Status s = ValidateModelName(std::string("lorenz63\0x", 10), "model_name");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("model_name 'lorenz63\\x00x'"), absl::string_view::npos) << s;
  EXPECT_EQ(s.message().find('\0'), absl::string_view::npos) << "no raw NUL in the message";
  const absl::Status long_name = ValidateModelName(std::string(100000, 'x') + "/", "model");
  EXPECT_LT(long_name.message().size(), 400u) << "the message stays short whatever was sent";
  EXPECT_EQ(ValidateModelName("", "name").message(), "name must be set");
  EXPECT_TRUE(ValidateModelName("lorenz63", "model").ok());
}

}  // namespace
}  // namespace hybrid::base
