// Positions remember the Kafka cluster they were taken in (a restarted dev
// broker is another, empty cluster), over a real RocksDB that is reopened.
#include "checkpoint/kafka_cluster.h"

#include <gtest/gtest.h>

#include "tests/support/pg_cluster.h"

namespace ferry::checkpoint {
namespace {

KafkaClusterCheck Check(const std::string& id, bool has_positions, bool accept = false) {
  return {"capture of slot s", id, has_positions, accept, "what to do"};
}

TEST(KafkaClusterTest, AnotherClusterUnderPositionsIsRefusedUntilAccepted) {
  ::ferry::testing::TempDir tmp("cluster");
  {
    auto store = RocksPositionStore::Open(tmp.path() + "/store");
    ASSERT_TRUE(store.ok());
    EXPECT_TRUE(CheckKafkaCluster(**store, Check("mockClusterA", false)).ok());  // first run: recorded
    EXPECT_TRUE(CheckKafkaCluster(**store, Check("mockClusterA", true)).ok());
  }
  auto store = RocksPositionStore::Open(tmp.path() + "/store");  // as after a restart
  ASSERT_TRUE(store.ok());
  Status refused = CheckKafkaCluster(**store, Check("mockClusterB", true));
  EXPECT_EQ(refused.code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(refused.message(),
            "Kafka is now cluster mockClusterB, but the positions of the capture of slot s were taken in cluster "
            "mockClusterA. what to do");
  EXPECT_EQ(CheckKafkaCluster(**store, Check("mockClusterB", true)).code(), Status::Code::kInvalidArgument)
      << "a refusal records nothing";
  EXPECT_TRUE(CheckKafkaCluster(**store, Check("mockClusterB", true, /*accept=*/true)).ok());
  EXPECT_TRUE(CheckKafkaCluster(**store, Check("mockClusterB", true)).ok()) << "accepted once, recorded";
  // Without positions taken there, a change matters not.
  EXPECT_TRUE(CheckKafkaCluster(**store, Check("mockClusterC", false)).ok());
  EXPECT_EQ(*(*store)->GetMeta("kafka_cluster/capture of slot s"), "mockClusterC");
}

}  // namespace
}  // namespace ferry::checkpoint
