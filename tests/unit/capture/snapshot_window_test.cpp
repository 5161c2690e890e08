// WatermarkWindow: which rows of a chunk survive to its high watermark (DBLog).
#include "capture/snapshot_window.h"

#include <gtest/gtest.h>

namespace ferry::capture {
namespace {

using ferry::v1::ChangeEvent;

ChangeEvent Change(const std::string& table, ferry::v1::Operation op) {
  ChangeEvent e;
  e.set_schema("public");
  e.set_table(table);
  e.set_op(op);
  return e;
}

std::vector<WatermarkWindow::Row> Rows(std::initializer_list<std::string> keys) {
  std::vector<WatermarkWindow::Row> rows;
  for (const auto& k : keys) rows.push_back({k, Change("t", ferry::v1::OP_READ)});
  return rows;
}

std::vector<std::string> Keys(const std::vector<WatermarkWindow::Row>& rows) {
  std::vector<std::string> keys;
  for (const auto& r : rows) keys.push_back(r.key);
  return keys;
}

TEST(WatermarkWindowTest, ChangesInsideTheWindowDropTheirRows) {
  WatermarkWindow w;
  w.Fill("w1", "public", "t", Rows({"k1", "k2", "k3", "k4"}));
  EXPECT_TRUE(w.active());
  // Before the low watermark arrives, and still after the select: the commit may
  // precede the watermark in the WAL and yet have been invisible to the select.
  w.OnChange(Change("t", ferry::v1::OP_UPDATE), "k1");
  w.OnLow("w1");
  EXPECT_TRUE(w.low_seen());
  w.OnChange(Change("t", ferry::v1::OP_UPDATE), "k2");
  w.OnChange(Change("t", ferry::v1::OP_DELETE), "k4");
  w.OnChange(Change("other", ferry::v1::OP_UPDATE), "k3");  // same key, another table
  w.OnChange(Change("t", ferry::v1::OP_INSERT), "k9");      // not in the chunk
  auto left = w.OnHigh("w1");
  ASSERT_TRUE(left.has_value());
  EXPECT_EQ(Keys(*left), (std::vector<std::string>{"k3"}));
  EXPECT_FALSE(w.active());
}

TEST(WatermarkWindowTest, WatermarksOfOtherWindowsAreIgnored) {
  WatermarkWindow w;
  w.Fill("w2", "public", "t", Rows({"k1"}));
  w.OnLow("w1");  // an earlier run's window, resent after a restart
  EXPECT_FALSE(w.low_seen());
  EXPECT_FALSE(w.OnHigh("w1").has_value());
  EXPECT_TRUE(w.active());
  w.OnLow("w2");
  auto left = w.OnHigh("w2");
  ASSERT_TRUE(left.has_value());
  EXPECT_EQ(Keys(*left), (std::vector<std::string>{"k1"}));
}

TEST(WatermarkWindowTest, TruncateInsideTheWindowDropsEveryRow) {
  WatermarkWindow w;
  w.Fill("w", "public", "t", Rows({"k1", "k2"}));
  w.OnLow("w");
  w.OnChange(Change("t", ferry::v1::OP_TRUNCATE), "{\"__table\":\"public.t\"}");
  auto left = w.OnHigh("w");
  ASSERT_TRUE(left.has_value());
  EXPECT_TRUE(left->empty());
}

ChangeEvent Row(ferry::v1::Operation op, const std::string& v, const std::optional<std::string>& doc) {
  ChangeEvent e = Change("t", op);
  auto* c = e.add_columns();
  c->set_name("v");
  c->set_kind(ferry::v1::Column::KIND_TEXT);
  c->set_value(v);
  c = e.add_columns();
  c->set_name("doc");
  c->set_kind(doc ? ferry::v1::Column::KIND_TEXT : ferry::v1::Column::KIND_UNCHANGED_TOAST);
  if (doc) c->set_value(*doc);
  return e;
}

TEST(WatermarkWindowTest, UpdatesOfChunkRowsGetTheirUnsentToastValues) {
  WatermarkWindow w;
  std::vector<WatermarkWindow::Row> rows;
  rows.push_back({"k1", Row(ferry::v1::OP_READ, "0", "selected doc")});
  w.Fill("w", "public", "t", std::move(rows));
  // The row is dropped from the chunk: the target gets it from these updates
  // alone, so they must carry the TOASTed value the source did not resend.
  auto first = w.OnChange(Row(ferry::v1::OP_UPDATE, "1", std::nullopt), "k1");
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->columns(0).value(), "1");
  EXPECT_EQ(first->columns(1).kind(), ferry::v1::Column::KIND_TEXT);
  EXPECT_EQ(first->columns(1).value(), "selected doc");
  EXPECT_FALSE(w.OnChange(Row(ferry::v1::OP_UPDATE, "2", "new doc"), "k1").has_value()) << "complete already";
  auto third = w.OnChange(Row(ferry::v1::OP_UPDATE, "3", std::nullopt), "k1");
  ASSERT_TRUE(third.has_value());
  EXPECT_EQ(third->columns(1).value(), "new doc") << "the latest value the window saw, not the selected one";
  EXPECT_FALSE(w.OnChange(Row(ferry::v1::OP_UPDATE, "4", std::nullopt), "k9").has_value()) << "not a chunk row";
  auto left = w.OnHigh("w");
  ASSERT_TRUE(left.has_value());
  EXPECT_TRUE(left->empty());
}

TEST(WatermarkWindowTest, ClearedWindowEmitsNothing) {
  WatermarkWindow w;
  w.Fill("w", "public", "t", Rows({"k1"}));
  w.OnLow("w");
  w.Clear();  // cancelled
  EXPECT_FALSE(w.OnHigh("w").has_value());
}

}  // namespace
}  // namespace ferry::capture
