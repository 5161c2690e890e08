// The replication stream's CopyData framing: hand-built XLogData and keepalive
// messages, the exact bytes of a standby status update, and one session with a
// real PostgreSQL 15 walsender whose messages are parsed, decoded, and answered
// with a status update that must move the slot.
#include "capture/replication_messages.h"

#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <poll.h>

#include <chrono>
#include <ctime>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "capture/pgoutput_decoder.h"
#include "tests/support/pg_cluster.h"

namespace ferry::capture {
namespace {

using namespace std::string_literals;

std::string BigEndian(uint64_t v, int bytes) {
  std::string out;
  for (int i = bytes - 1; i >= 0; --i) out += static_cast<char>((v >> (8 * i)) & 0xff);
  return out;
}

// Appended piece by piece: "w" + BigEndian(..) trips GCC 12's false -Wrestrict at -O3.
std::string XLogDataBytes(uint64_t start, uint64_t end, int64_t time, std::string_view payload) {
  std::string out = "w";
  out += BigEndian(start, 8);
  out += BigEndian(end, 8);
  out += BigEndian(static_cast<uint64_t>(time), 8);
  return out += payload;
}

std::string KeepaliveBytes(uint64_t end, int64_t time, uint8_t reply) {
  std::string out = "k";
  out += BigEndian(end, 8);
  out += BigEndian(static_cast<uint64_t>(time), 8);
  return out += BigEndian(reply, 1);
}

TEST(ReplicationMessagesTest, ParsesXLogData) {
  std::string bytes = XLogDataBytes(0x16B374D848, 0x16B374D900, 123456789, "B\x01\x02"s);
  auto m = ParseReplicationMessage(bytes);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  const auto& x = std::get<XLogData>(*m);
  EXPECT_EQ(x.wal_start, Lsn(0x16B374D848));
  EXPECT_EQ(x.wal_end, Lsn(0x16B374D900));
  EXPECT_EQ(x.send_time, 123456789);
  EXPECT_EQ(x.payload, "B\x01\x02"s);
  EXPECT_EQ(x.payload.data(), bytes.data() + 25) << "the payload is a view, not a copy";
}

TEST(ReplicationMessagesTest, ParsesXLogDataWithEmptyPayloadAndNegativeTime) {
  auto m = ParseReplicationMessage(XLogDataBytes(1, 2, -5, ""));
  ASSERT_TRUE(m.ok());
  EXPECT_TRUE(std::get<XLogData>(*m).payload.empty());
  EXPECT_EQ(std::get<XLogData>(*m).send_time, -5);
}

TEST(ReplicationMessagesTest, ParsesKeepalive) {
  for (uint8_t reply : {0, 1}) {
    auto m = ParseReplicationMessage(KeepaliveBytes(0xFFFFFFFFFFFFFFFF, 42, reply));
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    const auto& k = std::get<PrimaryKeepalive>(*m);
    EXPECT_EQ(k.wal_end, Lsn(0xFFFFFFFFFFFFFFFF));
    EXPECT_EQ(k.send_time, 42);
    EXPECT_EQ(k.reply_requested, reply == 1);
  }
}

TEST(ReplicationMessagesTest, EveryTruncationIsCorruption) {
  std::string xlog = XLogDataBytes(1, 2, 3, "");
  std::string keepalive = KeepaliveBytes(1, 2, 1);
  for (const std::string& full : {xlog, keepalive}) {
    for (size_t n = 0; n < full.size(); ++n) {
      std::unique_ptr<char[]> exact(new char[n]);  // ASan sees any over-read
      std::copy(full.begin(), full.begin() + static_cast<ptrdiff_t>(n), exact.get());
      auto m = ParseReplicationMessage(std::string_view(exact.get(), n));
      ASSERT_FALSE(m.ok()) << n << " bytes of " << full[0];
      EXPECT_TRUE(m.status().IsCorruption()) << m.status().ToString();
    }
  }
}

TEST(ReplicationMessagesTest, RejectsTrailingBytesAfterKeepalive) {
  auto m = ParseReplicationMessage(KeepaliveBytes(1, 2, 0) + "x");
  ASSERT_FALSE(m.ok());
  EXPECT_TRUE(m.status().IsCorruption());
  EXPECT_EQ(m.status().message(),
            "parsing replication keepalive message: 1 trailing bytes at offset 18");
}

TEST(ReplicationMessagesTest, RejectsUnknownTypeAndEmptyInput) {
  auto m = ParseReplicationMessage("r" + std::string(33, '\0'));
  ASSERT_FALSE(m.ok());
  EXPECT_TRUE(m.status().IsCorruption());
  EXPECT_NE(m.status().message().find("unknown replication message type 'r'"), std::string::npos)
      << m.status().ToString();
  auto binary = ParseReplicationMessage("\x01"s);
  EXPECT_NE(binary.status().message().find("type 0x01"), std::string::npos);
  EXPECT_TRUE(ParseReplicationMessage("").status().IsCorruption());
}

TEST(ReplicationMessagesTest, StandbyStatusUpdateLayoutIsExact) {
  std::string msg = BuildStandbyStatusUpdate(Lsn(0x0102030405060708), Lsn(0x1112131415161718),
                                             Lsn(0x2122232425262728), 0x3132333435363738, true);
  std::string want =
      "r"
      "\x01\x02\x03\x04\x05\x06\x07\x08"
      "\x11\x12\x13\x14\x15\x16\x17\x18"
      "\x21\x22\x23\x24\x25\x26\x27\x28"
      "\x31\x32\x33\x34\x35\x36\x37\x38"
      "\x01"s;
  EXPECT_EQ(msg.size(), 34u);
  EXPECT_EQ(msg, want);
  std::string no_reply = BuildStandbyStatusUpdate(Lsn(0), Lsn(0), Lsn(0), -1, false);
  EXPECT_EQ(no_reply, "r"s + std::string(24, '\0') + std::string(8, '\xff') + '\0');
}

TEST(ReplicationMessagesTest, NowPgMicrosCountsFromTwoThousand) {
  int64_t unix_seconds = std::time(nullptr);
  int64_t pg_seconds = NowPgMicros() / 1000000;
  EXPECT_NEAR(static_cast<double>(pg_seconds), static_cast<double>(unix_seconds - 946684800), 2.0);
}

TEST(ReplicationMessagesTest, SeededMutationsNeverCrash) {
  std::vector<std::string> seeds = {XLogDataBytes(5, 6, 7, "I\x00\x00\x40\x00N\x00\x01n"s),
                                    KeepaliveBytes(5, 6, 1)};
  std::mt19937 rng(7);
  for (int i = 0; i < 5000; ++i) {
    std::string s = seeds[rng() % seeds.size()];
    switch (rng() % 4) {
      case 0: s[rng() % s.size()] = static_cast<char>(rng()); break;
      case 1: s.resize(rng() % s.size()); break;
      case 2: s.insert(rng() % s.size(), 1, static_cast<char>(rng())); break;
      case 3: s.erase(rng() % s.size(), 1); break;
    }
    std::unique_ptr<char[]> exact(new char[s.size()]);
    std::copy(s.begin(), s.end(), exact.get());
    auto m = ParseReplicationMessage(std::string_view(exact.get(), s.size()));
    ASSERT_TRUE(m.ok() || m.status().IsCorruption()) << m.status().ToString();
  }
}

// ---------------------------------------------------------------------------
// Against a real walsender

// Keeps what the stream sent; payload copies outlive libpq's buffers.
struct Received {
  std::vector<XLogData> xlog;  // payload views point into `payloads`
  std::vector<std::unique_ptr<std::string>> payloads;
  std::vector<char> types;  // pgoutput type byte of each XLogData
  std::vector<PrimaryKeepalive> keepalives;
  std::optional<CommitMessage> commit;
};

class CommitCatcher : public PgOutputHandler {
 public:
  explicit CommitCatcher(Received* r) : r_(r) {}
  Status OnBegin(const BeginMessage&) override { return Status::OK(); }
  Status OnCommit(const CommitMessage& m) override {
    r_->commit = m;
    return Status::OK();
  }
  Status OnOrigin(const OriginMessage&) override { return Status::OK(); }
  Status OnRelation(const RelationMessage&) override { return Status::OK(); }
  Status OnType(const TypeMessage&) override { return Status::OK(); }
  Status OnInsert(const InsertMessage&) override { return Status::OK(); }
  Status OnUpdate(const UpdateMessage&) override { return Status::OK(); }
  Status OnDelete(const DeleteMessage&) override { return Status::OK(); }
  Status OnTruncate(const TruncateMessage&) override { return Status::OK(); }
  Status OnMessage(const LogicalMessage&) override { return Status::OK(); }

 private:
  Received* r_;
};

struct CopyBufferDeleter {
  void operator()(char* p) const { PQfreemem(p); }
};

// Reads one CopyData message within timeout_ms: "" when none came.
Result<std::string> ReadCopyData(const PgConn& conn, int timeout_ms) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    char* raw = nullptr;
    int n = PQgetCopyData(conn.get(), &raw, /*async=*/1);
    std::unique_ptr<char, CopyBufferDeleter> buf(raw);
    if (n > 0) return std::string(buf.get(), static_cast<size_t>(n));
    if (n < 0) return Status::Unavailable("stream ended: " + conn.LastError());
    pollfd p{PQsocket(conn.get()), POLLIN, 0};
    if (attempt == 0 && poll(&p, 1, timeout_ms) > 0 && PQconsumeInput(conn.get()) == 0) {
      return Status::Unavailable("connection lost: " + conn.LastError());
    }
  }
  return std::string();
}

Status Handle(std::string copy_data, Received& r) {
  r.payloads.push_back(std::make_unique<std::string>(std::move(copy_data)));
  FERRY_ASSIGN_OR_RETURN(ReplicationMessage m, ParseReplicationMessage(*r.payloads.back()));
  if (auto* k = std::get_if<PrimaryKeepalive>(&m)) {
    r.keepalives.push_back(*k);
    return Status::OK();
  }
  const auto& x = std::get<XLogData>(m);
  r.xlog.push_back(x);
  r.types.push_back(x.payload.empty() ? '?' : x.payload[0]);
  CommitCatcher catcher(&r);
  return PgOutputDecoder::Decode(x.payload, catcher);
}

TEST(ReplicationStreamTest, RealWalsenderFramesPgoutputAndAcceptsStatusUpdates) {
  auto cluster = testing::PgCluster::Start("replmsg", /*logical=*/true);
  ASSERT_TRUE(cluster.ok()) << cluster.status().ToString();
  auto& pg = **cluster;
  pg.Sql("CREATE TABLE t (id int PRIMARY KEY, v text); CREATE PUBLICATION p FOR TABLE t");
  pg.Sql("SELECT pg_create_logical_replication_slot('s', 'pgoutput')");
  pg.Sql("INSERT INTO t VALUES (1, 'a')");

  // A short wal_sender_timeout makes the server ask for a reply after ~1 s.
  auto conn = PgConn::Connect(
      pg.conninfo(), {{"replication", "database"}, {"options", "-c wal_sender_timeout=2s"}});
  ASSERT_TRUE(conn.ok()) << conn.status().ToString();
  auto started =
      conn->Exec("START_REPLICATION SLOT s LOGICAL 0/0 (proto_version '1', publication_names 'p')");
  ASSERT_TRUE(started.ok()) << started.status().ToString();
  ASSERT_EQ(PQresultStatus(started->get()), PGRES_COPY_BOTH);

  Received r;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  auto asked_for_reply = [&] {
    return !r.keepalives.empty() && r.keepalives.back().reply_requested;
  };
  while (!(r.commit && asked_for_reply()) && std::chrono::steady_clock::now() < deadline) {
    auto data = ReadCopyData(*conn, 200);
    ASSERT_TRUE(data.ok()) << data.status().ToString();
    if (data->empty()) continue;
    Status handled = Handle(std::move(*data), r);
    ASSERT_TRUE(handled.ok()) << handled.ToString();
  }
  ASSERT_TRUE(r.commit.has_value()) << "no Commit within 15 s";
  ASSERT_TRUE(asked_for_reply()) << "no keepalive asking for a reply within 15 s";

  // What PostgreSQL 15 puts in the XLogData header: walEnd == dataStart, and
  // dataStart is 0/0 for a message that is not the last of its write (Relation).
  ASSERT_EQ(std::string(r.types.begin(), r.types.end()), "BRIC");
  const Lsn end = r.commit->end_lsn;
  for (size_t i = 0; i < r.xlog.size(); ++i) {
    EXPECT_EQ(r.xlog[i].wal_end, r.xlog[i].wal_start) << r.types[i];
    EXPECT_NEAR(static_cast<double>(r.xlog[i].send_time), static_cast<double>(NowPgMicros()), 60e6)
        << "send time is in microseconds since 2000-01-01";
  }
  EXPECT_EQ(r.xlog[1].wal_start, Lsn(0)) << "Relation";
  EXPECT_GT(r.xlog[0].wal_start, Lsn(0)) << "Begin";
  EXPECT_GE(r.xlog[2].wal_start, r.xlog[0].wal_start) << "Insert: its own LSN";
  EXPECT_LT(r.xlog[2].wal_start, end) << "Insert";
  EXPECT_EQ(r.xlog[3].wal_start, end) << "Commit: the transaction's end LSN";
  EXPECT_GE(r.keepalives.back().wal_end, end);

  // Confirming the commit's end moves the slot.
  std::string status = BuildStandbyStatusUpdate(end, end, end, NowPgMicros(), false);
  ASSERT_EQ(PQputCopyData(conn->get(), status.data(), static_cast<int>(status.size())), 1);
  ASSERT_EQ(PQflush(conn->get()), 0);
  std::string confirmed;
  while (std::chrono::steady_clock::now() < deadline) {
    confirmed =
        pg.Sql("SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = 's'");
    if (confirmed == end.ToString()) break;
    auto data = ReadCopyData(*conn, 100);  // keep the session serviced meanwhile
    ASSERT_TRUE(data.ok()) << data.status().ToString();
  }
  EXPECT_EQ(confirmed, end.ToString());
}

}  // namespace
}  // namespace ferry::capture
