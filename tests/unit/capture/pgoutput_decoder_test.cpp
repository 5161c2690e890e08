// PgOutputDecoder against what a real PostgreSQL 15 sends: one throwaway
// cluster runs a workload per scenario, and the raw pgoutput messages are read
// back with pg_logical_slot_get_binary_changes (the same bytes a walsender puts
// in XLogData). Then every strict prefix, single-byte corruptions and 20,000
// seeded random mutations of those messages must come back as Corruption (or,
// for a mutation that still parses, exactly one handler call): never a crash,
// never a partial callback. Under `make test` this runs with ASan and UBSan.
//
// Set FERRY_PGOUTPUT_CORPUS_DIR to also write the real messages out as a seed
// corpus for fuzz/pgoutput_fuzzer.cpp.
#include "capture/pgoutput_decoder.h"

#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <variant>
#include <vector>

#include "tests/support/pg_cluster.h"

namespace ferry::capture {
namespace {

using namespace std::string_literals;

// ---------------------------------------------------------------------------
// Handlers

using Decoded =
    std::variant<BeginMessage, CommitMessage, OriginMessage, RelationMessage, TypeMessage,
                 InsertMessage, UpdateMessage, DeleteMessage, TruncateMessage, LogicalMessage>;

// Keeps a copy of each message. Its views point into the decoded input, which
// the tests keep alive for as long as they look at the copies.
class RecordingHandler : public PgOutputHandler {
 public:
  Status OnBegin(const BeginMessage& m) override { return Add(m); }
  Status OnCommit(const CommitMessage& m) override { return Add(m); }
  Status OnOrigin(const OriginMessage& m) override { return Add(m); }
  Status OnRelation(const RelationMessage& m) override { return Add(m); }
  Status OnType(const TypeMessage& m) override { return Add(m); }
  Status OnInsert(const InsertMessage& m) override { return Add(m); }
  Status OnUpdate(const UpdateMessage& m) override { return Add(m); }
  Status OnDelete(const DeleteMessage& m) override { return Add(m); }
  Status OnTruncate(const TruncateMessage& m) override { return Add(m); }
  Status OnMessage(const LogicalMessage& m) override { return Add(m); }

  std::vector<Decoded> messages;

 private:
  template <typename M>
  Status Add(const M& m) {
    messages.emplace_back(m);
    return Status::OK();
  }
};

// Counts calls and returns `result` from each.
class CountingHandler : public PgOutputHandler {
 public:
  Status OnBegin(const BeginMessage&) override { return Count(); }
  Status OnCommit(const CommitMessage&) override { return Count(); }
  Status OnOrigin(const OriginMessage&) override { return Count(); }
  Status OnRelation(const RelationMessage&) override { return Count(); }
  Status OnType(const TypeMessage&) override { return Count(); }
  Status OnInsert(const InsertMessage&) override { return Count(); }
  Status OnUpdate(const UpdateMessage&) override { return Count(); }
  Status OnDelete(const DeleteMessage&) override { return Count(); }
  Status OnTruncate(const TruncateMessage&) override { return Count(); }
  Status OnMessage(const LogicalMessage&) override { return Count(); }

  int calls = 0;
  Status result;

 private:
  Status Count() {
    ++calls;
    return result;
  }
};

std::string Hex(std::string_view bytes, size_t max = 96) {
  static const char* kDigits = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < bytes.size() && i < max; ++i) {
    auto b = static_cast<uint8_t>(bytes[i]);
    out += kDigits[b >> 4];
    out += kDigits[b & 0xf];
  }
  return bytes.size() > max ? out + "..." : out;
}

// The input copied into a heap block of exactly its size, so ASan reports any
// read past its end (a std::string's spare capacity would hide it).
class ExactBytes {
 public:
  explicit ExactBytes(std::string_view s) : size_(s.size()), data_(new char[s.size()]) {
    std::copy(s.begin(), s.end(), data_.get());
  }
  std::string_view view() const { return {data_.get(), size_}; }

 private:
  size_t size_;
  std::unique_ptr<char[]> data_;
};

// Decoding malformed or valid input has exactly two outcomes: OK with one
// handler call, or Corruption with none. Returns a description of anything else.
std::string CheckCleanOutcome(std::string_view input) {
  ExactBytes exact(input);
  CountingHandler h;
  Status st = PgOutputDecoder::Decode(exact.view(), h);
  if (st.ok() && h.calls == 1) return "";
  if (st.IsCorruption() && h.calls == 0) return "";
  return st.ToString() + " after " + std::to_string(h.calls) + " handler calls for " + Hex(input);
}

// ---------------------------------------------------------------------------
// Hand-built messages, for what a healthy server never sends.

class Bytes {
 public:
  Bytes& U8(uint8_t v) { return Int(v, 1); }
  Bytes& I16(int16_t v) { return Int(static_cast<uint16_t>(v), 2); }
  Bytes& I32(int32_t v) { return Int(static_cast<uint32_t>(v), 4); }
  Bytes& U32(uint32_t v) { return Int(v, 4); }
  Bytes& U64(uint64_t v) { return Int(v, 8); }
  Bytes& Str(std::string_view s) {
    s_ += s;
    s_ += '\0';
    return *this;
  }
  Bytes& Raw(std::string_view s) {
    s_ += s;
    return *this;
  }
  const std::string& str() const { return s_; }

 private:
  Bytes& Int(uint64_t v, int n) {
    for (int i = n - 1; i >= 0; --i) s_ += static_cast<char>((v >> (8 * i)) & 0xff);
    return *this;
  }
  std::string s_;
};

Status DecodeOne(std::string_view bytes, Decoded* out) {
  RecordingHandler h;
  Status st = PgOutputDecoder::Decode(bytes, h);
  if (st.ok() && h.messages.size() == 1) *out = h.messages[0];
  return st;
}

void ExpectCorruption(const std::string& bytes, std::string_view needle) {
  CountingHandler h;
  Status st = PgOutputDecoder::Decode(bytes, h);
  EXPECT_TRUE(st.IsCorruption()) << st.ToString() << " for " << Hex(bytes);
  EXPECT_NE(st.message().find(needle), std::string::npos) << st.ToString();
  EXPECT_EQ(h.calls, 0);
}

TEST(PgOutputDecoderTest, DecodesHandBuiltInsertWithEveryValueKind) {
  // clang-format off
  std::string bytes = Bytes().U8('I').U32(16384).U8('N').I16(4)
                          .U8('n')
                          .U8('u')
                          .U8('t').I32(3).Raw("abc")
                          .U8('b').I32(2).Raw("\x00\xff"s)
                          .str();
  // clang-format on
  Decoded d;
  ASSERT_TRUE(DecodeOne(bytes, &d).ok());
  const auto& m = std::get<InsertMessage>(d);
  EXPECT_EQ(m.relation_oid, 16384u);
  ASSERT_EQ(m.new_tuple.size(), 4u);
  EXPECT_EQ(m.new_tuple[0].kind, TupleValue::Kind::kNull);
  EXPECT_EQ(m.new_tuple[1].kind, TupleValue::Kind::kUnchangedToast);
  EXPECT_EQ(m.new_tuple[2].kind, TupleValue::Kind::kText);
  EXPECT_EQ(m.new_tuple[2].data, "abc");
  EXPECT_EQ(m.new_tuple[3].kind, TupleValue::Kind::kBinary);
  EXPECT_EQ(m.new_tuple[3].data, "\x00\xff"s);
}

TEST(PgOutputDecoderTest, DecodesHandBuiltOriginAndEmptyTuple) {
  Decoded d;
  std::string origin = Bytes().U8('O').U64(0xABCDEF).Str("node-a").str();
  ASSERT_TRUE(DecodeOne(origin, &d).ok());
  EXPECT_EQ(std::get<OriginMessage>(d).commit_lsn, Lsn(0xABCDEF));
  EXPECT_EQ(std::get<OriginMessage>(d).name, "node-a");  // a view into `origin`
  std::string insert = Bytes().U8('I').U32(1).U8('N').I16(0).str();
  ASSERT_TRUE(DecodeOne(insert, &d).ok());
  EXPECT_TRUE(std::get<InsertMessage>(d).new_tuple.empty());
}

TEST(PgOutputDecoderTest, RejectsStreamingAndUnknownMessageTypes) {
  for (char type : {'S', 'E', 'c', 'A', 'b', 'P', 'K', 'r', 'p', 'x', '\0'}) {
    ExpectCorruption(Bytes().U8(static_cast<uint8_t>(type)).U32(1).str(),
                     "unexpected pgoutput message type");
  }
  ExpectCorruption(Bytes().U8('S').U32(1).U8(1).str(), "'S' (a streaming message");
  ExpectCorruption("", "empty pgoutput message");
}

TEST(PgOutputDecoderTest, RejectsNegativeAndImplausibleCounts) {
  ExpectCorruption(Bytes().U8('I').U32(1).U8('N').I16(-1).str(), "negative tuple column count -1");
  ExpectCorruption(Bytes().U8('I').U32(1).U8('N').I16(3).U8('n').U8('n').str(),
                   "tuple column count 3");
  ExpectCorruption(Bytes().U8('R').U32(1).Str("public").Str("t").U8('d').I16(-5).str(),
                   "negative relation column count");
  // 2 columns need at least 20 bytes; 19 are left.
  ExpectCorruption(
      Bytes().U8('R').U32(1).Str("").Str("t").U8('d').I16(2).Raw(std::string(19, 'x')).str(),
      "relation column count 2");
  ExpectCorruption(Bytes().U8('T').U32(0xffffffff).U8(0).U32(1).str(), "truncated relation count");
}

TEST(PgOutputDecoderTest, RejectsBadLengthsKindsAndTags) {
  ExpectCorruption(Bytes().U8('I').U32(1).U8('N').I16(1).U8('t').I32(-1).str(),
                   "negative column value length -1");
  ExpectCorruption(Bytes().U8('I').U32(1).U8('N').I16(1).U8('t').I32(0x7fffffff).Raw("ab").str(),
                   "truncated input");
  ExpectCorruption(Bytes().U8('I').U32(1).U8('N').I16(1).U8('x').str(),
                   "unknown tuple value kind 'x'");
  ExpectCorruption(Bytes().U8('I').U32(1).U8('K').I16(0).str(), "unexpected tuple tag 'K'");
  ExpectCorruption(Bytes().U8('U').U32(1).U8('K').I16(0).U8('K').I16(0).str(),
                   "unexpected tuple tag 'K'");
  ExpectCorruption(Bytes().U8('D').U32(1).U8('N').I16(0).str(), "unexpected tuple tag 'N'");
  ExpectCorruption(Bytes().U8('R').U32(1).Str("").Str("t").U8('z').I16(0).str(),
                   "unknown replica identity 'z'");
  ExpectCorruption(Bytes().U8('T').U32(0).U8(4).str(), "unknown truncate option bits");
  ExpectCorruption(Bytes().U8('M').U8(1).U64(1).Str("p").I32(-2).str(),
                   "negative message content length");
  ExpectCorruption(Bytes().U8('Y').U32(1).Str("public").Raw("unterminated").str(),
                   "unterminated string");
}

TEST(PgOutputDecoderTest, RejectsTrailingBytesAfterACompleteMessage) {
  ExpectCorruption(Bytes().U8('B').U64(1).U64(2).U32(3).U8(0).str(),
                   "decoding pgoutput Begin message: 1 trailing bytes at offset 21");
  ExpectCorruption(Bytes().U8('I').U32(1).U8('N').I16(0).Raw("zz").str(), "2 trailing bytes");
}

TEST(PgOutputDecoderTest, ReturnsTheHandlerStatusUntouched) {
  CountingHandler h;
  h.result = Status::Unavailable("kafka is down");
  Status st = PgOutputDecoder::Decode(Bytes().U8('B').U64(1).U64(2).U32(3).str(), h);
  EXPECT_TRUE(st.IsRetriable());
  EXPECT_EQ(st.message(), "kafka is down");
  EXPECT_EQ(h.calls, 1);
}

// ---------------------------------------------------------------------------
// Real messages from PostgreSQL 15

struct RawMessage {
  Lsn lsn;       // the `lsn` column of pg_logical_slot_get_binary_changes
  uint32_t xid;  // the `xid` column (0 for a non-transactional message)
  std::string data;
};

// One cluster and its workload for the whole suite; each scenario's messages
// are read (and consumed) from the slot right after it runs.
struct Workload {
  std::unique_ptr<testing::PgCluster> cluster;
  std::string error;  // set when building the workload failed
  std::map<std::string, std::vector<RawMessage>> scenarios;
  std::map<std::string, uint32_t> oids;  // relation or type name -> oid
  uint32_t insert_xid = 0;
  Lsn tx_message_lsn, nontx_message_lsn;  // what pg_logical_emit_message returned
  std::string big_text;
};

constexpr const char* kSchema = R"sql(
  CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
  CREATE TABLE items (id int PRIMARY KEY, name text, price numeric(10,2), feeling mood);
  CREATE TABLE pairs (a int, b text, v text, doubled int GENERATED ALWAYS AS (a * 2) STORED,
                      PRIMARY KEY (a, b));
  CREATE TABLE full_rows (id int, v text);
  ALTER TABLE full_rows REPLICA IDENTITY FULL;
  CREATE TABLE docs (id int PRIMARY KEY, counter int, big text);
  CREATE TABLE parent (id serial PRIMARY KEY, v text);
  CREATE TABLE child (id serial PRIMARY KEY, parent_id int REFERENCES parent (id));
  CREATE PUBLICATION p FOR ALL TABLES;
  SELECT pg_replication_origin_create('o1');
)sql";

constexpr const char* kInsertText = "it's \"quoted\"\nsecond line\ttab \\ ünïcødé ✓ 日本語";

Result<std::vector<RawMessage>> Drain(const PgConn& conn, bool peek_binary = false) {
  std::string sql = std::string("SELECT lsn::text, xid::text, data FROM pg_logical_slot_") +
                    (peek_binary ? "peek" : "get") +
                    "_binary_changes('s', NULL, NULL, 'proto_version', '1', "
                    "'publication_names', 'p', 'messages', 'true'" +
                    (peek_binary ? ", 'binary', 'true')" : ")");
  PgResult r(PQexecParams(conn.get(), sql.c_str(), 0, nullptr, nullptr, nullptr, nullptr,
                          /*resultFormat=*/1));
  if (!r || PQresultStatus(r.get()) != PGRES_TUPLES_OK) {
    return Status::Internal("reading the slot failed: " + conn.LastError());
  }
  std::vector<RawMessage> out;
  for (int i = 0; i < PQntuples(r.get()); ++i) {
    FERRY_ASSIGN_OR_RETURN(Lsn lsn, Lsn::Parse(PQgetvalue(r.get(), i, 0)));
    auto xid = static_cast<uint32_t>(std::strtoul(PQgetvalue(r.get(), i, 1), nullptr, 10));
    out.push_back({lsn, xid, std::string(PQgetvalue(r.get(), i, 2), PQgetlength(r.get(), i, 2))});
  }
  return out;
}

Status Run(const PgConn& conn, const std::vector<std::string>& statements) {
  for (const auto& sql : statements) FERRY_RETURN_IF_ERROR(conn.Exec(sql).status());
  return Status::OK();
}

// Runs statements, then reads and consumes what the slot has.
Status Scenario(Workload& w, const PgConn& conn, const std::string& name,
                const std::vector<std::string>& statements) {
  FERRY_RETURN_IF_ERROR(Run(conn, statements));
  FERRY_ASSIGN_OR_RETURN(w.scenarios[name], Drain(conn));
  return Status::OK();
}

Result<uint32_t> QueryOid(const PgConn& conn, const std::string& expr) {
  FERRY_ASSIGN_OR_RETURN(std::string v, conn.QueryScalar("SELECT (" + expr + ")::oid::text"));
  return static_cast<uint32_t>(std::stoul(v));
}

Status InsertScenario(Workload& w, const PgConn& conn) {
  FERRY_RETURN_IF_ERROR(Run(conn, {"BEGIN"}));
  FERRY_RETURN_IF_ERROR(conn.ExecParams("INSERT INTO items VALUES (1, $1, 9.99, 'happy'), "
                                        "(2, NULL, NULL, NULL)",
                                        {std::string(kInsertText)})
                            .status());
  FERRY_ASSIGN_OR_RETURN(std::string xid, conn.QueryScalar("SELECT pg_current_xact_id()::text"));
  w.insert_xid = static_cast<uint32_t>(std::stoul(xid));
  FERRY_RETURN_IF_ERROR(Run(conn, {"COMMIT"}));
  FERRY_ASSIGN_OR_RETURN(w.scenarios["insert_binary"], Drain(conn, /*peek_binary=*/true));
  FERRY_ASSIGN_OR_RETURN(w.scenarios["insert"], Drain(conn));
  return Status::OK();
}

Status ToastScenario(Workload& w, const PgConn& conn) {
  // ~1.3 MB of random hex: far past the TOAST threshold, stored out of line.
  FERRY_RETURN_IF_ERROR(
      Run(conn, {"INSERT INTO docs SELECT 1, 0, string_agg(md5(random()::text), '') "
                 "FROM generate_series(1, 40000)"}));
  FERRY_ASSIGN_OR_RETURN(w.big_text, conn.QueryScalar("SELECT big FROM docs WHERE id = 1"));
  return Scenario(w, conn, "toast",
                  {"UPDATE docs SET counter = counter + 1 WHERE id = 1", "DELETE FROM docs"});
}

Status MessageScenario(Workload& w, const PgConn& conn) {
  FERRY_ASSIGN_OR_RETURN(
      std::string tx,
      conn.QueryScalar("SELECT pg_logical_emit_message(true, 'ferry', 'tx content')"));
  FERRY_ASSIGN_OR_RETURN(
      std::string nontx,
      conn.QueryScalar("SELECT pg_logical_emit_message(false, 'ferry', '\\x00ff00'::bytea)"));
  FERRY_ASSIGN_OR_RETURN(w.tx_message_lsn, Lsn::Parse(tx));
  FERRY_ASSIGN_OR_RETURN(w.nontx_message_lsn, Lsn::Parse(nontx));
  // A non-transactional message is not flushed on its own (PostgreSQL 15 has no
  // flush argument), and decoding stops at the flushed WAL: commit something.
  return Scenario(w, conn, "message", {"INSERT INTO parent (v) VALUES ('flush')"});
}

Status BuildWorkload(Workload& w) {
  FERRY_ASSIGN_OR_RETURN(w.cluster, testing::PgCluster::Start("pgoutput", /*logical=*/true));
  FERRY_ASSIGN_OR_RETURN(PgConn conn, w.cluster->Connect());
  // A slot cannot be created in a transaction that wrote: a statement of its own.
  FERRY_RETURN_IF_ERROR(Run(conn, {"SET client_min_messages = warning", kSchema,
                                   "SELECT pg_create_logical_replication_slot('s', 'pgoutput')"}));
  for (const char* rel : {"items", "pairs", "full_rows", "docs", "parent", "child"}) {
    FERRY_ASSIGN_OR_RETURN(w.oids[rel], QueryOid(conn, QuoteLiteral(rel) + "::regclass"));
  }
  FERRY_ASSIGN_OR_RETURN(w.oids["mood"], QueryOid(conn, "'mood'::regtype"));

  FERRY_RETURN_IF_ERROR(InsertScenario(w, conn));
  FERRY_RETURN_IF_ERROR(Scenario(w, conn, "composite_key",
                                 {"INSERT INTO pairs VALUES (1, 'k', 'v1')",
                                  "UPDATE pairs SET v = 'v2'", "DELETE FROM pairs"}));
  FERRY_RETURN_IF_ERROR(Scenario(
      w, conn, "update",
      {"UPDATE items SET id = 10 WHERE id = 1", "UPDATE items SET price = 1.5 WHERE id = 10"}));
  FERRY_RETURN_IF_ERROR(Scenario(w, conn, "full",
                                 {"INSERT INTO full_rows VALUES (1, 'a')",
                                  "UPDATE full_rows SET v = 'b'", "DELETE FROM full_rows"}));
  FERRY_RETURN_IF_ERROR(ToastScenario(w, conn));
  FERRY_RETURN_IF_ERROR(Scenario(w, conn, "delete", {"DELETE FROM items WHERE id = 2"}));
  FERRY_RETURN_IF_ERROR(
      Scenario(w, conn, "truncate",
               {"INSERT INTO parent (v) VALUES ('x')", "INSERT INTO child (parent_id) VALUES (1)",
                "TRUNCATE parent RESTART IDENTITY CASCADE"}));
  FERRY_RETURN_IF_ERROR(MessageScenario(w, conn));
  return Scenario(w, conn, "origin",
                  {"SELECT pg_replication_origin_session_setup('o1')", "BEGIN",
                   "SELECT pg_replication_origin_xact_setup('0/ABCDEF', now())",
                   "INSERT INTO full_rows VALUES (7, 'from o1')", "COMMIT",
                   "SELECT pg_replication_origin_session_reset()"});
}

void WriteCorpus(const Workload& w, const std::string& dir) {
  for (const auto& [name, messages] : w.scenarios) {
    for (size_t i = 0; i < messages.size(); ++i) {
      if (messages[i].data.size() > 4096) continue;
      std::ofstream(dir + "/" + name + "-" + std::to_string(i), std::ios::binary)
          << messages[i].data;
      // The same message as the walsender frames it.
      std::ofstream(dir + "/xlogdata-" + name + "-" + std::to_string(i), std::ios::binary)
          << Bytes()
                 .U8('w')
                 .U64(messages[i].lsn.value())
                 .U64(messages[i].lsn.value())
                 .U64(0)
                 .Raw(messages[i].data)
                 .str();
    }
  }
}

// Built once per process by the fixture below; the checks read it.
Workload* workload = nullptr;

const Workload& W() { return *workload; }
const std::vector<RawMessage>& Messages(const std::string& scenario) {
  return workload->scenarios.at(scenario);
}
// Every real message, in scenario order.
std::vector<const RawMessage*> All() {
  std::vector<const RawMessage*> out;
  for (const auto& [name, messages] : workload->scenarios) {
    for (const auto& m : messages) out.push_back(&m);
  }
  return out;
}
uint32_t Oid(const std::string& name) { return workload->oids.at(name); }

// Decodes a scenario; fails the test if any message does not decode.
std::vector<Decoded> Decode(const std::string& scenario) {
  RecordingHandler h;
  for (const auto& m : Messages(scenario)) {
    Status st = PgOutputDecoder::Decode(m.data, h);
    EXPECT_TRUE(st.ok()) << scenario << ": " << st.ToString() << " for " << Hex(m.data);
  }
  return h.messages;
}
// The type byte of each message: "BRIC" for Begin, Relation, Insert, Commit.
std::string Types(const std::string& scenario) {
  std::string out;
  for (const auto& m : Messages(scenario)) out += m.data.empty() ? '?' : m.data[0];
  return out;
}

void ExpectText(const TupleValue& v, std::string_view text) {
  EXPECT_EQ(v.kind, TupleValue::Kind::kText);
  EXPECT_EQ(v.data, text);
}
void ExpectNull(const TupleValue& v) { EXPECT_EQ(v.kind, TupleValue::Kind::kNull); }

void ExpectColumn(const RelationColumn& c, std::string_view name, bool key, uint32_t type_oid,
                  int32_t typmod = -1) {
  EXPECT_EQ(c.name, name);
  EXPECT_EQ(c.is_key(), key) << name;
  EXPECT_EQ(c.type_oid, type_oid) << name;
  EXPECT_EQ(c.type_modifier, typmod) << name;
}

constexpr uint32_t kInt4Oid = 23, kTextOid = 25, kNumericOid = 1700;

void BeginTypeRelationInsertCommit() {
  ASSERT_EQ(Types("insert"), "BYRIIC");
  auto d = Decode("insert");
  const auto& begin = std::get<BeginMessage>(d[0]);
  EXPECT_EQ(begin.xid, Xid(W().insert_xid));

  const auto& type = std::get<TypeMessage>(d[1]);
  EXPECT_EQ(type.oid, Oid("mood"));
  EXPECT_EQ(type.schema, "public");
  EXPECT_EQ(type.name, "mood");

  const auto& rel = std::get<RelationMessage>(d[2]);
  EXPECT_EQ(rel.oid, Oid("items"));
  EXPECT_EQ(rel.schema, "public");
  EXPECT_EQ(rel.name, "items");
  EXPECT_EQ(rel.replica_identity, 'd');
  ASSERT_EQ(rel.columns.size(), 4u);
  ExpectColumn(rel.columns[0], "id", true, kInt4Oid);
  ExpectColumn(rel.columns[1], "name", false, kTextOid);
  ExpectColumn(rel.columns[2], "price", false, kNumericOid, (10 << 16 | 2) + 4);
  ExpectColumn(rel.columns[3], "feeling", false, Oid("mood"));

  const auto& first = std::get<InsertMessage>(d[3]);
  EXPECT_EQ(first.relation_oid, Oid("items"));
  ASSERT_EQ(first.new_tuple.size(), 4u);
  ExpectText(first.new_tuple[0], "1");
  ExpectText(first.new_tuple[1], kInsertText);
  ExpectText(first.new_tuple[2], "9.99");
  ExpectText(first.new_tuple[3], "happy");
  const auto& second = std::get<InsertMessage>(d[4]);
  ASSERT_EQ(second.new_tuple.size(), 4u);
  ExpectText(second.new_tuple[0], "2");
  for (int i = 1; i < 4; ++i) ExpectNull(second.new_tuple[i]);

  const auto& commit = std::get<CommitMessage>(d[5]);
  EXPECT_EQ(commit.flags, 0);
  EXPECT_EQ(commit.commit_lsn, begin.final_lsn);
  EXPECT_EQ(commit.commit_time, begin.commit_time);
}

void BinaryOptionSendsBinaryValues() {
  ASSERT_EQ(Types("insert_binary"), "BYRIIC");
  auto d = Decode("insert_binary");
  const auto& first = std::get<InsertMessage>(d[3]);
  ASSERT_EQ(first.new_tuple.size(), 4u);
  EXPECT_EQ(first.new_tuple[0].kind, TupleValue::Kind::kBinary);
  EXPECT_EQ(first.new_tuple[0].data, "\x00\x00\x00\x01"s);  // int4send
  EXPECT_EQ(first.new_tuple[1].kind, TupleValue::Kind::kBinary);
  EXPECT_EQ(first.new_tuple[1].data, kInsertText);  // textsend: the UTF-8 bytes
  ExpectNull(std::get<InsertMessage>(d[4]).new_tuple[1]);
}

void TransactionsAreFramedWithConsistentLsnsAndXids() {
  for (const auto& [name, messages] : W().scenarios) {
    if (name == "insert_binary") continue;  // a peek of what "insert" then consumed
    RecordingHandler h;
    std::optional<BeginMessage> begin;  // of the open transaction
    Lsn previous;
    for (const auto& raw : messages) {
      ASSERT_TRUE(PgOutputDecoder::Decode(raw.data, h).ok()) << name;
      EXPECT_GE(raw.lsn, previous) << name << ": the slot's rows come in LSN order";
      previous = raw.lsn;
      const Decoded& m = h.messages.back();
      if (const auto* b = std::get_if<BeginMessage>(&m)) {
        EXPECT_FALSE(begin.has_value()) << name << ": nested Begin";
        begin = *b;
        EXPECT_EQ(Xid(raw.xid), b->xid) << name;
        EXPECT_LE(raw.lsn, b->final_lsn) << name << ": Begin's row is its first change";
      } else if (const auto* c = std::get_if<CommitMessage>(&m)) {
        ASSERT_TRUE(begin.has_value()) << name << ": Commit without Begin";
        EXPECT_EQ(c->commit_lsn, begin->final_lsn) << name;
        EXPECT_EQ(c->commit_time, begin->commit_time) << name;
        EXPECT_LT(c->commit_lsn, c->end_lsn) << name;
        EXPECT_EQ(raw.lsn, c->end_lsn) << name << ": the Commit row's lsn is the end LSN";
        begin.reset();
      } else if (begin.has_value()) {
        EXPECT_EQ(Xid(raw.xid), begin->xid) << name;
        EXPECT_LE(raw.lsn, begin->final_lsn) << name;
      }
    }
    EXPECT_FALSE(begin.has_value()) << name << ": Begin without Commit";
  }
}

void CompositeKeyAndGeneratedColumn() {
  // One transaction per statement; the Relation goes once per decoding session.
  ASSERT_EQ(Types("composite_key"), "BRICBUCBDC");
  auto d = Decode("composite_key");
  const auto& rel = std::get<RelationMessage>(d[1]);
  EXPECT_EQ(rel.name, "pairs");
  ASSERT_EQ(rel.columns.size(), 3u) << "generated columns are not replicated";
  ExpectColumn(rel.columns[0], "a", true, kInt4Oid);
  ExpectColumn(rel.columns[1], "b", true, kTextOid);
  ExpectColumn(rel.columns[2], "v", false, kTextOid);

  const auto& insert = std::get<InsertMessage>(d[2]);
  ASSERT_EQ(insert.new_tuple.size(), 3u);
  ExpectText(insert.new_tuple[2], "v1");

  const auto& update = std::get<UpdateMessage>(d[5]);
  EXPECT_EQ(update.old_kind, 0) << "key unchanged: no old tuple";
  EXPECT_TRUE(update.old_tuple.empty());
  ExpectText(update.new_tuple[2], "v2");

  const auto& del = std::get<DeleteMessage>(d[8]);
  EXPECT_EQ(del.relation_oid, Oid("pairs"));
  EXPECT_EQ(del.old_kind, 'K');
  ASSERT_EQ(del.old_tuple.size(), 3u) << "the key tuple has every column, non-key ones null";
  ExpectText(del.old_tuple[0], "1");
  ExpectText(del.old_tuple[1], "k");
  ExpectNull(del.old_tuple[2]);
}

void UpdateChangingThePrimaryKeySendsOldKey() {
  ASSERT_EQ(Types("update"), "BYRUCBUC");
  auto d = Decode("update");
  const auto& changed_key = std::get<UpdateMessage>(d[3]);
  EXPECT_EQ(changed_key.relation_oid, Oid("items"));
  EXPECT_EQ(changed_key.old_kind, 'K');
  ASSERT_EQ(changed_key.old_tuple.size(), 4u);
  ExpectText(changed_key.old_tuple[0], "1");
  for (int i = 1; i < 4; ++i) ExpectNull(changed_key.old_tuple[i]);
  ASSERT_EQ(changed_key.new_tuple.size(), 4u);
  ExpectText(changed_key.new_tuple[0], "10");
  ExpectText(changed_key.new_tuple[1], kInsertText);
  ExpectText(changed_key.new_tuple[3], "happy");

  const auto& same_key = std::get<UpdateMessage>(d[6]);
  EXPECT_EQ(same_key.old_kind, 0);
  ExpectText(same_key.new_tuple[2], "1.50");
}

void ReplicaIdentityFullSendsOldRows() {
  ASSERT_EQ(Types("full"), "BRICBUCBDC");
  auto d = Decode("full");
  const auto& rel = std::get<RelationMessage>(d[1]);
  EXPECT_EQ(rel.replica_identity, 'f');
  ASSERT_EQ(rel.columns.size(), 2u);
  ExpectColumn(rel.columns[0], "id", true, kInt4Oid);  // FULL: every column is key
  ExpectColumn(rel.columns[1], "v", true, kTextOid);

  const auto& update = std::get<UpdateMessage>(d[5]);
  EXPECT_EQ(update.old_kind, 'O');
  ASSERT_EQ(update.old_tuple.size(), 2u);
  ExpectText(update.old_tuple[0], "1");
  ExpectText(update.old_tuple[1], "a");
  ExpectText(update.new_tuple[1], "b");

  const auto& del = std::get<DeleteMessage>(d[8]);
  EXPECT_EQ(del.old_kind, 'O');
  ASSERT_EQ(del.old_tuple.size(), 2u);
  ExpectText(del.old_tuple[1], "b");
}

void UnchangedToastValueIsSentAsU() {
  ASSERT_GT(W().big_text.size(), 1000000u);
  ASSERT_EQ(Types("toast"), "BRICBUCBDC");
  auto d = Decode("toast");
  const auto& insert = std::get<InsertMessage>(d[2]);
  ASSERT_EQ(insert.new_tuple.size(), 3u);
  ExpectText(insert.new_tuple[2], W().big_text);

  const auto& update = std::get<UpdateMessage>(d[5]);
  EXPECT_EQ(update.old_kind, 0);
  ASSERT_EQ(update.new_tuple.size(), 3u);
  ExpectText(update.new_tuple[0], "1");
  ExpectText(update.new_tuple[1], "1");
  EXPECT_EQ(update.new_tuple[2].kind, TupleValue::Kind::kUnchangedToast);
  EXPECT_TRUE(update.new_tuple[2].data.empty());

  const auto& del = std::get<DeleteMessage>(d[8]);
  EXPECT_EQ(del.old_kind, 'K');
  ExpectText(del.old_tuple[0], "1");
  ExpectNull(del.old_tuple[2]);
}

void DeleteSendsTheOldKey() {
  ASSERT_EQ(Types("delete"), "BYRDC");
  auto d = Decode("delete");
  const auto& del = std::get<DeleteMessage>(d[3]);
  EXPECT_EQ(del.relation_oid, Oid("items"));
  EXPECT_EQ(del.old_kind, 'K');
  ASSERT_EQ(del.old_tuple.size(), 4u);
  ExpectText(del.old_tuple[0], "2");
}

void TruncateCascadeListsBothTablesAndOptions() {
  // TRUNCATE invalidates both tables' cached schema: their Relation messages
  // come again, in the middle of the decoding session, before the Truncate.
  ASSERT_EQ(Types("truncate"), "BRICBRICBRRTC");
  auto d = Decode("truncate");
  const auto& truncate = std::get<TruncateMessage>(d[11]);
  EXPECT_TRUE(truncate.cascade);
  EXPECT_TRUE(truncate.restart_identity);
  std::vector<uint32_t> oids = truncate.relation_oids;
  std::sort(oids.begin(), oids.end());
  std::vector<uint32_t> want{Oid("parent"), Oid("child")};
  std::sort(want.begin(), want.end());
  EXPECT_EQ(oids, want) << "the table truncated by CASCADE is listed too";
}

void TransactionalAndNonTransactionalMessages() {
  // Transactional: inside its own Begin/Commit. Non-transactional: alone, xid 0.
  ASSERT_EQ(Types("message").substr(0, 4), "BMCM");
  const auto& raw = Messages("message");
  auto d = Decode("message");
  const auto& tx = std::get<LogicalMessage>(d[1]);
  EXPECT_TRUE(tx.transactional);
  EXPECT_EQ(tx.lsn, W().tx_message_lsn);
  EXPECT_EQ(raw[1].lsn, tx.lsn);
  EXPECT_EQ(tx.prefix, "ferry");
  EXPECT_EQ(tx.content, "tx content");

  const auto& nontx = std::get<LogicalMessage>(d[3]);
  EXPECT_FALSE(nontx.transactional);
  EXPECT_EQ(nontx.lsn, W().nontx_message_lsn);
  EXPECT_EQ(raw[3].lsn, nontx.lsn);
  EXPECT_EQ(raw[3].xid, 0u);
  EXPECT_EQ(nontx.content, "\x00\xff\x00"s);
}

void OriginFollowsBeginForAnOriginSession() {
  ASSERT_EQ(Types("origin"), "BORIC");
  auto d = Decode("origin");
  const auto& origin = std::get<OriginMessage>(d[1]);
  EXPECT_EQ(origin.name, "o1");
  EXPECT_EQ(origin.commit_lsn, Lsn(0xABCDEF));
  ExpectText(std::get<InsertMessage>(d[3]).new_tuple[1], "from o1");
}

void EveryStrictPrefixIsCorruption() {
  // Large messages (the TOAST row): every prefix near both ends, a stride between.
  constexpr size_t kEdge = 4096, kStride = 4093;
  size_t checked = 0;
  for (const RawMessage* m : All()) {
    const std::string& s = m->data;
    for (size_t n = 0; n < s.size();
         n = (n >= kEdge && n + kEdge < s.size()) ? n + kStride : n + 1) {
      std::string_view prefix(s.data(), n);
      CountingHandler h;
      Status st = n <= kEdge ? PgOutputDecoder::Decode(ExactBytes(prefix).view(), h)
                             : PgOutputDecoder::Decode(prefix, h);
      ASSERT_TRUE(st.IsCorruption()) << n << "-byte prefix of " << Hex(s) << ": " << st.ToString();
      ASSERT_EQ(h.calls, 0);
      ++checked;
    }
  }
  EXPECT_GT(checked, 1000u);
}

// Real messages small enough to mutate many times.
std::vector<std::string> SmallMessages(const std::vector<const RawMessage*>& all) {
  std::vector<std::string> out;
  for (const RawMessage* m : all) {
    if (m->data.size() <= 4096) out.push_back(m->data);
  }
  return out;
}

void SingleByteCorruptionsNeverCrash() {
  for (const std::string& original : SmallMessages(All())) {
    for (size_t i = 0; i < original.size(); ++i) {
      auto b = static_cast<uint8_t>(original[i]);
      for (uint8_t v : {uint8_t{0x00}, uint8_t{0x7f}, uint8_t{0x80}, uint8_t{0xff},
                        static_cast<uint8_t>(b ^ 0x01), static_cast<uint8_t>(b ^ 0x80)}) {
        std::string mutated = original;
        mutated[i] = static_cast<char>(v);
        std::string problem = CheckCleanOutcome(mutated);
        ASSERT_EQ(problem, "") << "byte " << i << " of " << Hex(original);
      }
    }
  }
}

// Overwrites up to `bytes` bytes at `at` with v, big-endian, cut at the end.
void Plant(std::string& s, size_t at, uint32_t v, int bytes) {
  for (int i = 0; i < bytes && at + i < s.size(); ++i) {
    s[at + i] = static_cast<char>((v >> (8 * (bytes - 1 - i))) & 0xff);
  }
}

// One random edit: overwrite, flip, insert, delete, plant a huge length or
// count, cut, or duplicate a slice.
void Mutate(std::string& s, std::mt19937& rng) {
  static const uint32_t kHuge32[] = {0x7fffffff, 0xffffffff, 0x80000000, 0x00ffffff, 0x00010000};
  static const uint16_t kHuge16[] = {0x7fff, 0xffff, 0x8000, 0x0100};
  auto byte = [&] { return static_cast<char>(rng() & 0xff); };
  if (s.empty()) {
    s.push_back(byte());
    return;
  }
  size_t at = rng() % s.size();
  switch (rng() % 8) {
    case 0: s[at] = byte(); break;
    case 1: s[at] = static_cast<char>(s[at] ^ (1 << (rng() % 8))); break;
    case 2: s.insert(at, 1, byte()); break;
    case 3: s.erase(at, 1); break;
    case 4: Plant(s, at, kHuge32[rng() % 5], 4); break;
    case 5: Plant(s, at, kHuge16[rng() % 4], 2); break;
    case 6: s.resize(at); break;
    case 7: s.insert(at, s.substr(at, rng() % 16)); break;
  }
}

void TwentyThousandSeededMutationsNeverCrash() {
  std::vector<std::string> seeds = SmallMessages(All());
  ASSERT_FALSE(seeds.empty());
  std::mt19937 rng(20240607);
  int parsed_ok = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string s = seeds[rng() % seeds.size()];
    int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) Mutate(s, rng);
    std::string problem = CheckCleanOutcome(s);
    ASSERT_EQ(problem, "") << "mutation " << i;
    CountingHandler h;
    if (PgOutputDecoder::Decode(s, h).ok()) ++parsed_ok;
  }
  // Some mutations land in values and still parse; most must not.
  EXPECT_GT(parsed_ok, 0);
  EXPECT_LT(parsed_ok, 20000);
}

// One cluster per process: under ctest every TEST is its own process, so the
// real-message checks are grouped into two tests rather than one per scenario.
class PgOutputRealMessagesTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    workload = new Workload;
    Status st = BuildWorkload(*workload);
    if (!st.ok()) workload->error = st.ToString();
    const char* corpus = std::getenv("FERRY_PGOUTPUT_CORPUS_DIR");
    if (st.ok() && corpus != nullptr) WriteCorpus(*workload, corpus);
  }
  static void TearDownTestSuite() {
    delete workload;
    workload = nullptr;
  }
  void SetUp() override { ASSERT_EQ(workload->error, ""); }
};

#define FERRY_RUN_CHECK(check) \
  do {                         \
    SCOPED_TRACE(#check);      \
    check();                   \
  } while (0)

TEST_F(PgOutputRealMessagesTest, DecodesEveryMessageTypePostgres15Sends) {
  FERRY_RUN_CHECK(BeginTypeRelationInsertCommit);
  FERRY_RUN_CHECK(BinaryOptionSendsBinaryValues);
  FERRY_RUN_CHECK(TransactionsAreFramedWithConsistentLsnsAndXids);
  FERRY_RUN_CHECK(CompositeKeyAndGeneratedColumn);
  FERRY_RUN_CHECK(UpdateChangingThePrimaryKeySendsOldKey);
  FERRY_RUN_CHECK(ReplicaIdentityFullSendsOldRows);
  FERRY_RUN_CHECK(UnchangedToastValueIsSentAsU);
  FERRY_RUN_CHECK(DeleteSendsTheOldKey);
  FERRY_RUN_CHECK(TruncateCascadeListsBothTablesAndOptions);
  FERRY_RUN_CHECK(TransactionalAndNonTransactionalMessages);
  FERRY_RUN_CHECK(OriginFollowsBeginForAnOriginSession);
}

// Under `make test` this runs with ASan and UBSan: any over-read is a failure.
TEST_F(PgOutputRealMessagesTest, CorruptedRealMessagesAreCorruptionNeverACrash) {
  FERRY_RUN_CHECK(EveryStrictPrefixIsCorruption);
  FERRY_RUN_CHECK(SingleByteCorruptionsNeverCrash);
  FERRY_RUN_CHECK(TwentyThousandSeededMutationsNeverCrash);
}

}  // namespace
}  // namespace ferry::capture
