// A source and a target cluster shared by the tests of one suite (starting
// clusters costs more than the tests themselves); each test uses its own
// tables or objects.
#pragma once

#include <gtest/gtest.h>

#include <memory>

#include "tests/support/pg_cluster.h"

namespace ferry::testing {

class TwoClustersTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto s = PgCluster::Start("rec-src", /*logical=*/false);
    auto t = PgCluster::Start("rec-tgt", /*logical=*/false);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    ASSERT_TRUE(t.ok()) << t.status().ToString();
    source_ = std::move(s).value().release();
    target_ = std::move(t).value().release();
  }
  static void TearDownTestSuite() {
    delete source_;
    delete target_;
    source_ = target_ = nullptr;
  }
  // The same SQL on both clusters.
  static void OnBoth(const std::string& sql) {
    source_->Sql(sql);
    target_->Sql(sql);
  }
  static PgCluster* source_;
  static PgCluster* target_;
};

inline PgCluster* TwoClustersTest::source_ = nullptr;
inline PgCluster* TwoClustersTest::target_ = nullptr;

}  // namespace ferry::testing
