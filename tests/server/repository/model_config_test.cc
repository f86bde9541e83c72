// Model configs: the shipped default parses; bad fields are named.
#include "server/repository/model_config.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

namespace hybrid::server {
namespace {

TEST(ModelConfig, ShippedDefaultParsesWithDefaultsFilled) {
  std::ifstream in(std::string(HYBRID_SOURCE_DIR) + "/deploy/model_repository/lorenz63/config.pbtxt");
  std::stringstream text;
  text << in.rdbuf();
  absl::StatusOr<v1::ModelConfig> config = ParseModelConfig(text.str(), "lorenz63/config.pbtxt");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->name(), "lorenz63");
  EXPECT_EQ(config->ensemble_members(), 5);
  EXPECT_EQ(config->calibration().max_window_steps(), 1000);  // Filled default.
  EXPECT_EQ(config->limits().max_batch(), 1024);
}

TEST(ModelConfig, SyntaxErrorsNameTheFileAndLine) {
  absl::StatusOr<v1::ModelConfig> config = ParseModelConfig("name: \"x\"\nbogus_field: 1\n", "x/config.pbtxt");
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(config.status().message().find("x/config.pbtxt: line 2, column 1"), absl::string_view::npos)
      << config.status();
}

TEST(ModelConfig, BadFieldsAreNamed) {
  const std::string base = "name: \"x\" physics: PHYSICS_KIND_LORENZ63 ";
  auto error = [&](const std::string& extra) {
    return std::string(ParseModelConfig(base + extra, "f").status().message());
  };
  EXPECT_NE(error("ensemble_members: 1000").find("ensemble_members"), std::string::npos);
  EXPECT_NE(error("dtype: \"float16\"").find("dtype"), std::string::npos);
  EXPECT_NE(error("calibration { max_window_steps: -1 }").find("max_window_steps"), std::string::npos);
  EXPECT_NE(error("parameters { initial: 3 }").find("parameters[0].name"), std::string::npos);
  EXPECT_NE(ParseModelConfig("physics: PHYSICS_KIND_LORENZ63", "f").status().message().find("name"), std::string::npos);
}

}  // namespace
}  // namespace hybrid::server
