#include "capture/snapshot_window.h"

namespace ferry::capture {

void WatermarkWindow::Fill(std::string id, std::string schema, std::string table, std::vector<Row> rows) {
  Clear();
  id_ = std::move(id);
  schema_ = std::move(schema);
  table_ = std::move(table);
  rows_ = std::move(rows);
  dropped_.assign(rows_.size(), false);
  for (size_t i = 0; i < rows_.size(); ++i) index_[rows_[i].key] = i;
  filled_ = true;
}

void WatermarkWindow::OnLow(const std::string& id) {
  if (filled_ && id == id_) low_seen_ = true;
}

void WatermarkWindow::OnChange(const ferry::v1::ChangeEvent& e, const std::string& key) {
  if (!filled_ || e.table() != table_ || e.schema() != schema_) return;
  if (e.op() == ferry::v1::OP_TRUNCATE) {
    dropped_.assign(rows_.size(), true);
    return;
  }
  auto it = index_.find(key);
  if (it != index_.end()) dropped_[it->second] = true;
}

std::optional<std::vector<WatermarkWindow::Row>> WatermarkWindow::OnHigh(const std::string& id) {
  if (!filled_ || id != id_) return std::nullopt;
  std::vector<Row> left;
  for (size_t i = 0; i < rows_.size(); ++i) {
    if (!dropped_[i]) left.push_back(std::move(rows_[i]));
  }
  Clear();
  return left;
}

void WatermarkWindow::Clear() {
  id_.clear();
  filled_ = low_seen_ = false;
  rows_.clear();
  dropped_.clear();
  index_.clear();
}

}  // namespace ferry::capture
