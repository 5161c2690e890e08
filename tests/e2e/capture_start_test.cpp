// What capture checks before it changes anything on the source: a refusal must
// leave the source as it found it, and the application working.
#include <gtest/gtest.h>

#include "tests/support/eventually.h"
#include "tests/support/pipeline.h"

namespace ferry::testing {
namespace {

struct Refused {
  int code = -1;
  std::string log;
};

// Runs capture against `source` with an unreachable broker (the source's checks
// come first) until it exits.
Refused RunCaptureUntilExit(const PgCluster& source, const std::string& name,
                            const std::vector<std::string>& extra = {}) {
  TempDir dir(name);
  ChildProcess capture;
  std::vector<std::string> argv{FerryBinary(), "capture", "--source", source.conninfo(), "--brokers",
                                "127.0.0.1:1", "--flow-control", "off", "--state-dir", dir.path()};
  argv.insert(argv.end(), extra.begin(), extra.end());
  EXPECT_TRUE(capture.Start(argv, dir.path() + "/capture.log"));
  Refused r;
  r.code = capture.Wait(std::chrono::milliseconds(30000));
  r.log = capture.LogTail();
  return r;
}

// The application's statement, as the application runs it: "" when it worked.
std::string ApplicationError(const PgCluster& source, const std::string& sql) {
  auto conn = source.Connect();
  if (!conn.ok()) return conn.status().ToString();
  auto r = conn->Exec(sql);
  return r.ok() ? "" : r.status().ToString();
}

TEST(CaptureStartTest, KeylessTableIsRefusedBeforeItsPublicationBreaksTheApplication) {
  auto source = PgCluster::Start("keyless", /*logical=*/true);
  ASSERT_TRUE(source.ok()) << source.status().ToString();
  PgCluster& src = **source;
  src.Sql("CREATE TABLE keyed (id int PRIMARY KEY, v text)");
  src.Sql("CREATE TABLE nokey (a int, b text)");  // REPLICA IDENTITY DEFAULT, no primary key
  src.Sql("INSERT INTO nokey VALUES (1, 'x')");

  Refused r = RunCaptureUntilExit(src, "keyless");
  EXPECT_EQ(r.code, 2) << "a configuration error: " << r.log;
  EXPECT_NE(r.log.find("public.nokey (no primary key)"), std::string::npos) << r.log;
  EXPECT_EQ(r.log.find("keyed"), std::string::npos) << "only the keyless table is named: " << r.log;

  EXPECT_EQ(ApplicationError(src, "UPDATE nokey SET b = 'y' WHERE a = 1"), "");
  EXPECT_EQ(ApplicationError(src, "DELETE FROM nokey WHERE a = 1"), "");
  EXPECT_EQ(src.Sql("SELECT count(*) FROM pg_publication"), "0") << "no publication left behind";
  EXPECT_EQ(src.Sql("SELECT count(*) FROM pg_replication_slots"), "0");
}

// Under publish_via_partition_root the publication lists the partitioned root
// (here REPLICA IDENTITY FULL), but PostgreSQL checks the partition an UPDATE
// writes, which has no identity.
TEST(CaptureStartTest, PartitionWithoutIdentityIsRefusedUnderPublishViaPartitionRoot) {
  auto source = PgCluster::Start("keylesspart", /*logical=*/true);
  ASSERT_TRUE(source.ok()) << source.status().ToString();
  PgCluster& src = **source;
  src.Sql("CREATE TABLE measures (id int, v text) PARTITION BY RANGE (id)");
  src.Sql("ALTER TABLE measures REPLICA IDENTITY FULL");
  src.Sql("CREATE TABLE measures_low PARTITION OF measures FOR VALUES FROM (0) TO (100)");
  src.Sql("INSERT INTO measures VALUES (1, 'a')");

  Refused r = RunCaptureUntilExit(src, "keylesspart", {"--publish-via-partition-root"});
  EXPECT_EQ(r.code, 2) << "a configuration error: " << r.log;
  EXPECT_NE(r.log.find("public.measures_low (no primary key)"), std::string::npos) << r.log;

  EXPECT_EQ(ApplicationError(src, "UPDATE measures SET v = 'b' WHERE id = 1"), "");
  EXPECT_EQ(src.Sql("SELECT count(*) FROM pg_publication"), "0") << "no publication left behind";
}

// The slot's exported snapshot dies with the process: a slot created while the
// broker is down would exist without its initial copy.
TEST(CaptureStartTest, NoSlotIsCreatedWhileKafkaIsUnreachable) {
  auto p = Pipeline::Start("nokafka");
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  Pipeline& pl = **p;
  pl.CreateOnBoth("CREATE TABLE t (id int PRIMARY KEY, v text)");
  pl.source().Sql("INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 500) g");

  ChildProcess down;
  ASSERT_TRUE(down.Start({FerryBinary(), "capture", "--source", pl.source().conninfo(), "--brokers", "127.0.0.1:1",
                          "--state-dir", pl.dir() + "/state"},
                         pl.dir() + "/capture-down.log"));
  int code = down.Wait(std::chrono::milliseconds(60000));
  std::string log = down.LogTail();
  EXPECT_NE(code, 0) << log;
  EXPECT_EQ(pl.source().Sql("SELECT count(*) FROM pg_replication_slots"), "0") << log;
  EXPECT_NE(log.find("only once Kafka answers"), std::string::npos) << log;

  // With the broker up, the first real start copies every row.
  ASSERT_TRUE(pl.StartApply());
  ASSERT_TRUE(pl.StartCapture());
  EXPECT_TRUE(pl.WaitConverged("t", "id", std::chrono::seconds(60))) << pl.Diff("t", "id") << pl.capture().LogTail();
  EXPECT_NE(ReadWholeFile(pl.capture().log_path()).find("created replication slot"), std::string::npos);
}

}  // namespace
}  // namespace ferry::testing
