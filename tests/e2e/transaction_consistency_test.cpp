// The target as other programs read it: a schema restored from `pg_dump -s` of
// the source (foreign keys with ON DELETE CASCADE, a UNIQUE column whose value
// moves between rows inside a transaction, a CHECK), a workload of transfers
// between accounts, orders inserted with their three lines and old orders
// deleted (their lines cascade), and a unique code moved from row to row. A
// reader samples the target all along: every sample must show a state the
// source had at some commit (balances sum to the constant, every order has its
// three lines, exactly one row holds the code). apply must never stop, survive
// kill -9, and leave the target equal to the source.
#include <gtest/gtest.h>

#include <atomic>
#include <random>
#include <thread>

#include "tests/support/eventually.h"
#include "tests/support/ferry_command.h"
#include "tests/support/pipeline.h"

namespace ferry::testing {
namespace {

using std::chrono::seconds;

constexpr int kAccounts = 100;
constexpr int kBalance = 1000;
constexpr int kCodes = 50;

constexpr const char* kSchema =
    "CREATE TABLE acc (id int PRIMARY KEY, bal int NOT NULL CHECK (bal > -1000000));"
    "CREATE TABLE codes (id int PRIMARY KEY, code text UNIQUE);"
    "CREATE TABLE orders (id bigserial PRIMARY KEY, note text);"
    "CREATE TABLE lines (id bigserial PRIMARY KEY, "
    "order_id bigint NOT NULL REFERENCES orders (id) ON DELETE CASCADE, n int NOT NULL);"
    "CREATE TABLE audit (at bigint, what text); ALTER TABLE audit REPLICA IDENTITY FULL;";

// What a reader of the target sees at one moment.
struct Sample {
  int64_t total = 0;          // sum of balances
  int64_t partial_orders = 0; // orders without exactly three lines
  int64_t holders = 0;        // rows holding code 'C'
};

// One transaction of the workload, chosen at random.
Status WorkloadTransaction(PgConn& conn, std::mt19937& rng, int64_t step) {
  const int pick = static_cast<int>(rng() % 10);
  const int64_t ia = 1 + rng() % kAccounts, ib = 1 + rng() % kAccounts;
  const std::string a = std::to_string(ia), b = std::to_string(ib);
  const std::string audit = "INSERT INTO audit VALUES (" + std::to_string(step) + ", '" + std::to_string(pick) + "');";
  std::string sql;
  if (pick < 6) {
    const std::string amount = std::to_string(1 + rng() % 50);
    // Rows locked in key order, so that two transfers never deadlock on the source.
    const std::string debit = "UPDATE acc SET bal = bal - " + amount + " WHERE id = " + a + ";";
    const std::string credit = "UPDATE acc SET bal = bal + " + amount + " WHERE id = " + b + ";";
    sql = "BEGIN; " + (ia <= ib ? debit + credit : credit + debit) + audit + "COMMIT";
  } else if (pick < 9) {
    sql = "BEGIN; WITH o AS (INSERT INTO orders (note) VALUES ('o') RETURNING id) "
          "INSERT INTO lines (order_id, n) SELECT id, n FROM o, generate_series(1, 3) n;" + audit + "COMMIT; "
          "DELETE FROM orders WHERE id = (SELECT min(id) FROM orders) AND (SELECT count(*) FROM orders) > 30";
  } else {
    // The unique value leaves its row before it lands on the next one (moves
    // are serialized on the source, or two could land at once).
    sql = "BEGIN; SELECT pg_advisory_xact_lock(42); UPDATE codes SET code = NULL WHERE code = 'C'; "
          "UPDATE codes SET code = 'C' WHERE id = " +
          std::to_string(1 + rng() % kCodes) + ";" + audit + "COMMIT";
  }
  return conn.Exec(sql).status();
}

// One statement: one snapshot of the target.
Result<Sample> Read(PgConn& conn) {
  FERRY_ASSIGN_OR_RETURN(PgResult s, conn.Exec("SELECT (SELECT coalesce(sum(bal), 0) FROM acc), "
                                               "(SELECT count(*) FROM orders o WHERE (SELECT count(*) FROM lines l "
                                               "WHERE l.order_id = o.id) <> 3), "
                                               "(SELECT count(*) FROM codes WHERE code = 'C')"));
  return Sample{std::stoll(PQgetvalue(s.get(), 0, 0)), std::stoll(PQgetvalue(s.get(), 0, 1)),
                std::stoll(PQgetvalue(s.get(), 0, 2))};
}

TEST(TransactionConsistencyTest, PgDumpSchemaReadersSeeOnlyWholeTransactionsThroughKillNine) {
  auto p = Pipeline::Start("consistency");
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  Pipeline& pl = **p;
  pl.source().Sql(kSchema);
  pl.source().Sql("INSERT INTO acc SELECT g, " + std::to_string(kBalance) + " FROM generate_series(1, " +
                  std::to_string(kAccounts) + ") g;"
                  "INSERT INTO codes SELECT g, CASE WHEN g = 1 THEN 'C' END FROM generate_series(1, " +
                  std::to_string(kCodes) + ") g");
  // The target's schema as users make it: pg_dump --schema-only of the source.
  ASSERT_EQ(RunShell("/usr/lib/postgresql/15/bin/pg_dump --schema-only -d " + ShellQuote(pl.source().conninfo()) +
                     " | /usr/lib/postgresql/15/bin/psql -q -v ON_ERROR_STOP=1 -d " +
                     ShellQuote(pl.target().conninfo()) + " >/dev/null"),
            0);
  ASSERT_TRUE(pl.StartApply());
  ASSERT_TRUE(pl.StartCapture());
  ASSERT_TRUE(pl.WaitCaptureStreaming()) << pl.capture().LogTail();
  ASSERT_TRUE(pl.WaitConverged("acc", "id", seconds(60))) << pl.apply().LogTail();

  std::atomic<bool> stop{false};
  std::atomic<int64_t> committed{0};
  std::string writer_error;
  std::vector<std::thread> writers;
  for (int w = 0; w < 4; ++w) {
    writers.emplace_back([&, w] {
      auto conn = pl.source().Connect();
      if (!conn.ok()) {
        writer_error = conn.status().ToString();
        return;
      }
      std::mt19937 rng(1000 + w);
      while (!stop) {
        Status st = WorkloadTransaction(*conn, rng, committed++);
        if (!st.ok()) {
          writer_error = st.ToString();
          return;
        }
      }
    });
  }
  std::atomic<int64_t> samples{0}, torn{0}, partial{0}, double_code{0};
  std::string reader_error, first_bad;
  std::thread reader([&] {
    auto conn = pl.target().Connect();
    if (!conn.ok()) {
      reader_error = conn.status().ToString();
      return;
    }
    while (!stop) {
      Result<Sample> s = Read(*conn);
      if (!s.ok()) {
        reader_error = s.status().ToString();
        return;
      }
      ++samples;
      const bool is_torn = s->total != int64_t{kAccounts} * kBalance;
      torn += is_torn;
      partial += s->partial_orders != 0;
      double_code += s->holders != 1;
      if ((is_torn || s->partial_orders != 0 || s->holders != 1) && first_bad.empty()) {
        first_bad = "sum " + std::to_string(s->total) + ", partial orders " + std::to_string(s->partial_orders) +
                    ", holders of C " + std::to_string(s->holders);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  });

  // Eight seconds of load (and at least 300 transactions), twice.
  auto load = [&] {
    int64_t until = committed + 300;
    std::this_thread::sleep_for(seconds(8));
    return Eventually([&] { return committed >= until || !writer_error.empty(); }, seconds(90));
  };
  EXPECT_TRUE(load());
  EXPECT_TRUE(pl.apply().running()) << "apply stopped under load: " << pl.apply().LogTail();
  pl.apply().Kill();  // kill -9 in the middle of the load
  ASSERT_TRUE(pl.StartApply());
  EXPECT_TRUE(load());
  stop = true;
  for (auto& t : writers) t.join();
  reader.join();
  ASSERT_TRUE(writer_error.empty()) << writer_error;
  ASSERT_TRUE(reader_error.empty()) << reader_error;

  for (const char* t : {"acc", "codes", "orders", "lines"}) {
    EXPECT_TRUE(pl.WaitConverged(t, "id", seconds(90))) << pl.Diff(t, "id") << pl.apply().LogTail();
  }
  EXPECT_TRUE(pl.WaitConverged("audit", "at, what", seconds(30))) << "nothing applied twice, nothing lost: "
                                                                  << pl.Diff("audit", "at, what");
  EXPECT_TRUE(pl.apply().running()) << pl.apply().LogTail();
  EXPECT_GT(samples.load(), 50);
  EXPECT_EQ(torn.load(), 0) << first_bad;
  EXPECT_EQ(partial.load(), 0) << first_bad;
  EXPECT_EQ(double_code.load(), 0) << first_bad;
  std::cout << samples << " samples of the target, " << committed << " source transactions\n";
}

}  // namespace
}  // namespace ferry::testing
