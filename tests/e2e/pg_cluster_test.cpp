// The harness every end-to-end test stands on: throwaway clusters start, take
// SQL, and a source has wal_level=logical.
#include "tests/support/pg_cluster.h"

#include <gtest/gtest.h>

namespace ferry::testing {
namespace {

TEST(PgClusterTest, SourceClusterIsLogicalAndTargetIsNot) {
  auto source = PgCluster::Start("src", /*logical=*/true);
  ASSERT_TRUE(source.ok()) << source.status().ToString();
  auto target = PgCluster::Start("dst", /*logical=*/false);
  ASSERT_TRUE(target.ok()) << target.status().ToString();
  EXPECT_EQ((*source)->Sql("SHOW wal_level"), "logical");
  EXPECT_EQ((*target)->Sql("SHOW wal_level"), "replica");
  EXPECT_EQ((*source)->Sql("SELECT 1+1"), "2");
}

}  // namespace
}  // namespace ferry::testing
