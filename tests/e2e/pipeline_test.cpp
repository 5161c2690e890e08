// capture -> dev broker -> apply, as separate processes against real clusters:
// the target ends up equal to the source, row for row.
#include <gtest/gtest.h>

#include <thread>

#include "tests/e2e/workload.h"

namespace ferry::testing {
namespace {

using std::chrono::seconds;

using PipelineTest = WorkloadPipelineTest;

TEST_F(PipelineTest, ReplicatesEveryKindOfChangeExactly) {
  ASSERT_NO_FATAL_FAILURE(StartPipeline("e2e"));
  PgCluster& src = pl_->source();

  // Values that break naive escaping and lossy type handling.
  src.Sql(R"sql(
    INSERT INTO accounts VALUES
      (1, 'O''Brien "quoted" \ backslash', 123456789012345678901234567890.12345678,
       '2024-02-29 23:59:59.999999+05:30', '{"a": [1, 2, {"b": null}], "ü": "✓"}',
       '\x00ff10', ARRAY['plain', 'with,comma', 'with "quote"', NULL, 'ünï']),
      (2, E'line1\nline2\ttab', -0.00000001, '1999-12-31 00:00:00+00', '[]', '', '{}'),
      (3, NULL, NULL, NULL, NULL, NULL, NULL),
      (4, '日本語 🚢', 99999999999999999999999999999999.99999999, 'infinity', '"s"', '\x', ARRAY[]::text[]);
    INSERT INTO order_items SELECT o, l, 'sku-' || o || '-' || l, l FROM generate_series(1, 20) o, generate_series(1, 5) l;
  )sql");
  // Updates, deletes, and updates that change the primary key.
  src.Sql(R"sql(
    UPDATE accounts SET balance = balance + 1, tags = tags || ARRAY['new'] WHERE id = 1;
    UPDATE accounts SET name = 'renamed' WHERE id = 3;
    DELETE FROM accounts WHERE id = 2;
    UPDATE accounts SET id = 1004 WHERE id = 4;
    UPDATE order_items SET line = line + 100 WHERE order_id = 3;
    UPDATE order_items SET qty = qty * 10 WHERE order_id BETWEEN 5 AND 8;
    DELETE FROM order_items WHERE order_id = 9;
    UPDATE accounts SET id = 4 WHERE id = 1004;
  )sql");

  // Two transactions interleaved on two connections, committed out of start order.
  auto a = src.Connect();
  auto b = src.Connect();
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_TRUE(a->Exec("BEGIN").ok());
  ASSERT_TRUE(b->Exec("BEGIN").ok());
  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE(a->Exec("INSERT INTO events VALUES (" + std::to_string(100000 + i) + ", 'a', now())").ok());
    ASSERT_TRUE(b->Exec("INSERT INTO events VALUES (" + std::to_string(200000 + i) + ", 'b', now())").ok());
    ASSERT_TRUE(b->Exec("UPDATE order_items SET qty = qty + 1 WHERE order_id = 1 AND line = 1").ok());
  }
  ASSERT_TRUE(b->Exec("COMMIT").ok());
  ASSERT_TRUE(a->Exec("UPDATE events SET payload = 'a-after-b' WHERE id >= 200000").ok());
  ASSERT_TRUE(a->Exec("COMMIT").ok());

  // A rolled-back transaction never reaches the target.
  src.Sql("BEGIN; INSERT INTO events SELECT g, 'rolled back', now() FROM generate_series(300000, 300999) g; "
          "DELETE FROM accounts; ROLLBACK;");

  // One 50,000-row transaction.
  src.Sql("INSERT INTO events SELECT g, repeat('x', g % 50), now() FROM generate_series(1, 50000) g");
  src.Sql("INSERT INTO accounts (id, name) VALUES (5, 'last')");

  ExpectConverged(seconds(180));
  EXPECT_EQ(pl_->target().Sql("SELECT count(*) FROM events WHERE payload = 'rolled back'"), "0");
  EXPECT_EQ(pl_->target().Sql("SELECT count(*) FROM events"), "50100");
  EXPECT_EQ(pl_->target().Sql("SELECT payload FROM events WHERE id = 200007"), "a-after-b");
  EXPECT_EQ(pl_->target().Sql("SELECT name FROM accounts WHERE id = 4"), "日本語 🚢");
}

}  // namespace
}  // namespace ferry::testing
