#include "common/lsn.h"

#include <gtest/gtest.h>

namespace ferry {
namespace {

TEST(LsnTest, ParsesAndPrintsPostgresForm) {
  auto l = Lsn::Parse("16/B374D848");
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(l->value(), (uint64_t{0x16} << 32) | 0xB374D848);
  EXPECT_EQ(l->ToString(), "16/B374D848");
  EXPECT_EQ(Lsn(0).ToString(), "0/0");
}

TEST(LsnTest, RejectsMalformed) {
  for (const char* bad : {"", "/", "1", "1/", "/1", "G/1", "1/2/3", "123456789/0", " 1/2"}) {
    EXPECT_FALSE(Lsn::Parse(bad).ok()) << bad;
  }
}

TEST(LsnTest, Orders) {
  EXPECT_LT(*Lsn::Parse("0/FFFFFFFF"), *Lsn::Parse("1/0"));
}

}  // namespace
}  // namespace ferry
