// COPY's text format (common/copy_text.h): what ferry writes reads back
// exactly, what PostgreSQL's own COPY TO writes reads as the values it
// holds, and malformed rows are errors, never a crash.
#include "common/copy_text.h"

#include <gtest/gtest.h>

#include <random>

#include "common/pg.h"
#include "tests/unit/apply/apply_test_support.h"

namespace ferry {
namespace {

std::vector<CopyRow> ReadAll(std::string_view data, size_t columns, Status* st) {
  std::vector<CopyRow> rows;
  *st = ReadCopyRows(data, columns, [&](CopyRow& row) {
    rows.push_back(row);
    return Status::OK();
  });
  return rows;
}

std::string Row(const CopyRow& values) {
  std::string out;
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out += '\t';
    AppendCopyValue(out, values[i] ? std::optional<std::string_view>(*values[i]) : std::nullopt);
  }
  return out + '\n';
}

TEST(CopyTextTest, EveryByteAndNullReadBackExactly) {
  std::string all;
  for (int b = 0; b < 256; ++b) all += static_cast<char>(b);
  const std::vector<CopyRow> rows = {{all, std::nullopt, std::string()},
                                     {"\\N", "\\.", "tab\there\nnew\rline\\"},
                                     {std::nullopt, std::nullopt, std::nullopt}};
  std::string data;
  for (const auto& r : rows) data += Row(r);
  EXPECT_EQ(Row(rows[1]), "\\\\N\t\\\\.\ttab\\there\\nnew\\rline\\\\\n");
  Status st;
  EXPECT_EQ(ReadAll(data, 3, &st), rows);
  EXPECT_TRUE(st.ok()) << st.ToString();
}

// A byte to escape is found at any place in a value, whatever the value's
// length, and the bytes around the escaped ones are left alone.
TEST(CopyTextTest, EveryByteToEscapeIsFoundWhereverItIs) {
  const std::vector<std::pair<char, std::string>> escaped = {{'\\', "\\\\"}, {'\n', "\\n"}, {'\r', "\\r"}, {'\t', "\\t"}};
  for (size_t length = 1; length <= 24; ++length) {
    for (size_t at = 0; at < length; ++at) {
      for (const auto& [byte, escape] : escaped) {
        std::string value(length, 'a');
        value[at] = byte;
        std::string expected = std::string(at, 'a') + escape + std::string(length - at - 1, 'a');
        std::string out;
        AppendCopyValue(out, value);
        ASSERT_EQ(out, expected) << "length " << length << ", at " << at;
      }
    }
    // Bytes just below and above the escaped ones, and non-ASCII, stay as they are.
    for (char other : {'\x0e', '\x7f', '\x80', '\xff', '\x5b', '\x5d', '\x0b', '\x0c', '\x08'}) {
      const std::string value(length, other);
      std::string out;
      AppendCopyValue(out, value);
      ASSERT_EQ(out, value) << "byte " << static_cast<int>(static_cast<unsigned char>(other));
    }
  }
}

TEST(CopyTextTest, ReadsWhatPostgresCopyToWrites) {
  ferry::testing::PgCluster* cluster = apply::testing::SharedTarget();
  ASSERT_NE(cluster, nullptr);
  auto conn = PgConn::Connect(cluster->conninfo());
  ASSERT_TRUE(conn.ok()) << conn.status().ToString();
  // Every control character, backslash, a NULL, an empty string, non-ASCII.
  const char* query =
      "COPY (SELECT string_agg(chr(i), '' ORDER BY i), NULL::text, '', 'ünï ✓ \\ end', 42 "
      "FROM generate_series(1, 127) i) TO STDOUT";
  PGresult* r = PQexec(conn->get(), query);
  ASSERT_EQ(PQresultStatus(r), PGRES_COPY_OUT) << PQerrorMessage(conn->get());
  PQclear(r);
  std::string data;
  char* buf = nullptr;
  for (int n; (n = PQgetCopyData(conn->get(), &buf, 0)) > 0;) {
    data.append(buf, static_cast<size_t>(n));
    PQfreemem(buf);
  }
  while ((r = PQgetResult(conn->get())) != nullptr) PQclear(r);
  std::string ascii;
  for (int i = 1; i < 128; ++i) ascii += static_cast<char>(i);
  Status st;
  std::vector<CopyRow> rows = ReadAll(data, 5, &st);
  ASSERT_TRUE(st.ok()) << st.ToString();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0], (CopyRow{ascii, std::nullopt, std::string(), "ünï ✓ \\ end", "42"}));
}

TEST(CopyTextTest, OctalAndHexEscapesAsPostgresReadsThem) {
  Status st;
  auto rows = ReadAll("\\101\\x42\\x4g\\7\\b\\f\\v\\q\n", 1, &st);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(rows, (std::vector<CopyRow>{{std::string("AB\x04g\x07\b\f\vq")}}));
}

TEST(CopyTextTest, MalformedRowsAreErrorsNamingTheRow) {
  Status st;
  ReadAll("1\ta\n2\n", 2, &st);
  EXPECT_EQ(st.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(st.message().find("COPY row 2 has 1 values, not 2"), std::string::npos) << st.ToString();
  ReadAll("1\ta\n2\tb", 2, &st);
  EXPECT_NE(st.message().find("row 2 has no newline"), std::string::npos) << st.ToString();
  ReadAll("1\ta\\\n", 2, &st);
  EXPECT_NE(st.message().find("lone backslash"), std::string::npos) << st.ToString();
  EXPECT_TRUE(ReadAll("\n\n", 0, &st).size() == 2 && st.ok()) << "a table without columns";
}

TEST(CopyTextTest, RandomBytesNeverCrashAndRandomRowsRoundTrip) {
  std::mt19937 rng(20261130);
  for (int round = 0; round < 2000; ++round) {
    std::string garbage(rng() % 64, '\0');
    for (char& c : garbage) c = "\\\t\nN.x07ab"[rng() % 11];
    Status st;
    ReadAll(garbage, rng() % 4, &st);  // any outcome but a crash
    CopyRow row(1 + rng() % 4);
    for (auto& v : row) {
      if (rng() % 5 == 0) continue;
      v.emplace(rng() % 12, '\0');
      for (char& c : *v) c = static_cast<char>(rng() % 256);
    }
    auto back = ReadAll(Row(row), row.size(), &st);
    ASSERT_TRUE(st.ok()) << st.ToString();
    ASSERT_EQ(back, std::vector<CopyRow>{row});
  }
}

}  // namespace
}  // namespace ferry
