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

TEST(WatermarkWindowTest, ClearedWindowEmitsNothing) {
  WatermarkWindow w;
  w.Fill("w", "public", "t", Rows({"k1"}));
  w.OnLow("w");
  w.Clear();  // cancelled
  EXPECT_FALSE(w.OnHigh("w").has_value());
}

}  // namespace
}  // namespace ferry::capture
