#include "capture/insert_batcher.h"

#include <optional>

#include "common/copy_text.h"
#include "transport/row_batch.h"

namespace ferry::capture {

using ferry::v1::ChangeEvent;
using ferry::v1::Column;

Status InsertBatcher::AppendRow(const Tuple& row, Lsn lsn) {
  if (rows_ == 0) first_lsn_ = lsn;
  AppendCopyLine(text_, row.size(), [&](size_t i) {
    return row[i].kind == TupleValue::Kind::kNull ? std::nullopt : std::optional<std::string_view>(row[i].data);
  });
  ++rows_;
  return text_.size() >= transport::kRowBatchBytes ? SendBatch() : Status::OK();
}

Status InsertBatcher::Keep(uint32_t oid, const std::string& table_key, std::string key, ChangeEvent&& e, Lsn lsn) {
  if (batch_open_ || (!kept_.empty() && oid != oid_)) FERRY_RETURN_IF_ERROR(Flush());
  oid_ = oid;
  table_key_ = table_key;
  for (const Column& c : e.columns()) kept_bytes_ += c.value().size();
  kept_.push_back({std::move(key), std::move(e), lsn});
  // Large rows open the batch sooner: what is kept stays bounded.
  if (kept_.size() >= min_rows_ || kept_bytes_ >= transport::kRowBatchBytes) return OpenBatch();
  return Status::OK();
}

// The kept inserts become the batch's first rows (the first batches, when
// they are large).
Status InsertBatcher::OpenBatch() {
  head_ = kept_.front().event;
  head_.set_op(ferry::v1::OP_INSERT_ROWS);
  for (Column& c : *head_.mutable_columns()) {
    c.clear_kind();
    c.clear_value();
  }
  text_.clear();
  rows_ = 0;
  batch_open_ = true;
  std::vector<Kept> kept = std::move(kept_);
  kept_.clear();
  kept_bytes_ = 0;
  for (const Kept& k : kept) {
    if (rows_ == 0) first_lsn_ = k.lsn;
    const auto& columns = k.event.columns();
    AppendCopyLine(text_, static_cast<size_t>(columns.size()), [&](size_t i) {
      const Column& c = columns[static_cast<int>(i)];
      return c.kind() == Column::KIND_NULL ? std::nullopt : std::optional<std::string_view>(c.value());
    });
    ++rows_;
    if (text_.size() >= transport::kRowBatchBytes) FERRY_RETURN_IF_ERROR(SendBatch());
  }
  return Status::OK();
}

Status InsertBatcher::SendBatch() {
  if (rows_ == 0) return Status::OK();
  ChangeEvent batch = head_;
  transport::SetBatchRows(batch, text_, rows_);
  text_.clear();
  rows_ = 0;
  return emit_(table_key_, batch, first_lsn_);
}

Status InsertBatcher::Flush() {
  if (batch_open_) {
    batch_open_ = false;
    return SendBatch();
  }
  std::vector<Kept> kept = std::move(kept_);
  kept_.clear();
  kept_bytes_ = 0;
  for (Kept& k : kept) FERRY_RETURN_IF_ERROR(emit_(k.key, k.event, k.lsn));
  return Status::OK();
}

}  // namespace ferry::capture
