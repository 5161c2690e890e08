#include "common/duration.h"

#include <gtest/gtest.h>

namespace ferry {
namespace {

using std::chrono::milliseconds;

TEST(DurationTest, ParsesUnitsAndCompounds) {
  EXPECT_EQ(*ParseDuration("500ms"), milliseconds(500));
  EXPECT_EQ(*ParseDuration("30s"), milliseconds(30000));
  EXPECT_EQ(*ParseDuration("10m"), milliseconds(600000));
  EXPECT_EQ(*ParseDuration("1h"), milliseconds(3600000));
  EXPECT_EQ(*ParseDuration("1h30m"), milliseconds(5400000));
  EXPECT_EQ(*ParseDuration("1m30s250ms"), milliseconds(90250));
  EXPECT_EQ(*ParseDuration("0s"), milliseconds(0));
  EXPECT_EQ(*ParseDuration("45"), milliseconds(45000)) << "a bare number is seconds";
}

TEST(DurationTest, RejectsWhatIsNotADuration) {
  for (const char* bad : {"", "s", "-5s", "5x", "1.5s", "10 m", "5s5", "m10", "99999999999999999999s"}) {
    auto d = ParseDuration(bad);
    ASSERT_FALSE(d.ok()) << bad;
    EXPECT_EQ(d.status().code(), Status::Code::kInvalidArgument);
    EXPECT_NE(d.status().message().find("duration '"), std::string::npos);
  }
}

TEST(DurationTest, Formats) {
  EXPECT_EQ(FormatDuration(milliseconds(2500)), "2.5s");
  EXPECT_EQ(FormatDuration(milliseconds(3000)), "3s");
  EXPECT_EQ(FormatDuration(milliseconds(600000)), "10m0s");
}

}  // namespace
}  // namespace ferry
