// CopySequences against two real clusters.
#include "reconcile/sequences.h"

#include <gtest/gtest.h>

#include "tests/unit/reconcile/reconcile_clusters.h"

namespace ferry::testing {
namespace {

class SequencesTest : public TwoClustersTest {};

TEST_F(SequencesTest, CopiesEveryUserSequenceSoTheTargetContinuesWhereTheSourceIs) {
  OnBoth("CREATE SCHEMA \"Billing\"; CREATE TABLE \"Billing\".invoices (id bigserial PRIMARY KEY); "
         "CREATE SEQUENCE public.untouched START 100; CREATE SEQUENCE public.stepped INCREMENT 10");
  source_->Sql("INSERT INTO \"Billing\".invoices SELECT FROM generate_series(1, 42); "
               "SELECT nextval('public.stepped'); SELECT nextval('public.stepped')");
  auto src = source_->Connect();
  auto tgt = target_->Connect();
  ASSERT_TRUE(src.ok() && tgt.ok());
  std::vector<reconcile::SequenceValue> copied;
  Status st = reconcile::CopySequences(*src, *tgt, &copied);
  ASSERT_TRUE(st.ok()) << st.ToString();
  ASSERT_EQ(copied.size(), 3u);
  EXPECT_EQ(copied[0].schema + "." + copied[0].name, "Billing.invoices_id_seq");
  EXPECT_EQ(copied[0].last_value, 42);
  EXPECT_TRUE(copied[0].is_called);
  EXPECT_FALSE(copied[2].is_called) << copied[2].name;
  EXPECT_EQ(target_->Sql("SELECT nextval('\"Billing\".invoices_id_seq')"), "43");
  EXPECT_EQ(target_->Sql("SELECT nextval('public.stepped')"), "21");
  EXPECT_EQ(target_->Sql("SELECT nextval('public.untouched')"), "100") << "is_called=false carried";
  source_->Sql("DROP SCHEMA \"Billing\" CASCADE; DROP SEQUENCE public.untouched, public.stepped");
  target_->Sql("DROP SCHEMA \"Billing\" CASCADE; DROP SEQUENCE public.untouched, public.stepped");
}

TEST_F(SequencesTest, ASequenceMissingOnTheTargetIsNamedAndNothingIsChanged) {
  OnBoth("CREATE SEQUENCE a_seq");
  source_->Sql("CREATE SEQUENCE only_on_source; SELECT setval('a_seq', 500)");
  auto src = source_->Connect();
  auto tgt = target_->Connect();
  ASSERT_TRUE(src.ok() && tgt.ok());
  Status st = reconcile::CopySequences(*src, *tgt);
  EXPECT_EQ(st.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(st.message().find("public.only_on_source"), std::string::npos) << st.ToString();
  EXPECT_EQ(target_->Sql("SELECT last_value FROM a_seq"), "1");
  OnBoth("DROP SEQUENCE a_seq");
  source_->Sql("DROP SEQUENCE only_on_source");
}

}  // namespace
}  // namespace ferry::testing
