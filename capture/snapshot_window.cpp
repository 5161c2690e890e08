#include "capture/snapshot_window.h"

namespace ferry::capture {

void WatermarkWindow::Fill(std::string id, std::string schema, std::string table, std::vector<Row> rows) {
  Clear();
  id_ = std::move(id);
  schema_ = std::move(schema);
  table_ = std::move(table);
  rows_ = std::move(rows);
  dropped_.assign(rows_.size(), false);
  deleted_.assign(rows_.size(), false);
  for (size_t i = 0; i < rows_.size(); ++i) index_[rows_[i].key] = i;
  filled_ = true;
}

void WatermarkWindow::OnLow(const std::string& id) {
  if (filled_ && id == id_) low_seen_ = true;
}

namespace {

// Applies `e`'s new row to `known` (the row as the window knows it) and fills
// e's unchanged-TOAST columns from it. True when some column was filled.
bool Track(ferry::v1::ChangeEvent& known, ferry::v1::ChangeEvent& e) {
  bool filled = false;
  for (auto& c : *e.mutable_columns()) {
    for (auto& k : *known.mutable_columns()) {
      if (k.name() != c.name()) continue;
      if (c.kind() == ferry::v1::Column::KIND_UNCHANGED_TOAST) {
        c.set_kind(k.kind());
        c.set_value(k.value());
        filled = true;
      } else {
        k.set_kind(c.kind());
        k.set_value(c.value());
      }
    }
  }
  return filled;
}

}  // namespace

std::optional<ferry::v1::ChangeEvent> WatermarkWindow::OnChange(const ferry::v1::ChangeEvent& e,
                                                                const std::string& key) {
  if (!filled_ || e.table() != table_ || e.schema() != schema_) return std::nullopt;
  if (e.op() == ferry::v1::OP_TRUNCATE) {
    dropped_.assign(rows_.size(), true);
    deleted_.assign(rows_.size(), true);
    return std::nullopt;
  }
  auto it = index_.find(key);
  if (it == index_.end()) return std::nullopt;
  const size_t i = it->second;
  dropped_[i] = true;
  if (e.op() == ferry::v1::OP_DELETE) {
    deleted_[i] = true;
    return std::nullopt;
  }
  if (e.op() == ferry::v1::OP_INSERT) deleted_[i] = false;  // an insert carries the whole row
  if (deleted_[i]) return std::nullopt;
  ferry::v1::ChangeEvent completed = e;
  if (!Track(rows_[i].event, completed)) return std::nullopt;
  return completed;
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
  deleted_.clear();
  index_.clear();
}

}  // namespace ferry::capture
