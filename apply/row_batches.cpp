#include "apply/row_batches.h"

#include "apply/copy_run.h"
#include "apply/statement_builder.h"
#include "common/copy_text.h"
#include "common/lz4_block.h"
#include "transport/row_batch.h"

namespace ferry::apply {

using ferry::v1::ChangeEvent;
using ferry::v1::Column;

bool SameRowBatchShape(const ChangeEvent& first, const ChangeEvent& next) {
  return transport::IsRowBatch(first.op()) && SameCopyShape(first, next, first.op());
}

Names RowBatchCopyColumns(const ChangeEvent& batch, const TableInfo& table) {
  Names names;
  for (const Column& c : batch.columns()) {
    const ColumnInfo* target = table.FindColumn(c.name());
    if (target == nullptr || target->generated) return {};
    names.push_back(c.name());
  }
  return names;
}

Result<std::string_view> RowBatchText(const ChangeEvent& batch, std::string& scratch) {
  if (batch.copy_rows_lz4_size() == 0) return std::string_view(batch.copy_rows());
  Status st = Lz4Decompress(batch.copy_rows(), batch.copy_rows_lz4_size(), scratch);
  if (!st.ok()) return Status::Corruption("reading the rows of " + DescribeEvent(batch) + ": " + st.message());
  return std::string_view(scratch);
}

size_t RowBatchBytes(const ChangeEvent& batch) {
  return batch.copy_rows_lz4_size() != 0 ? batch.copy_rows_lz4_size() : batch.copy_rows().size();
}

Status ExpandRowBatch(const ChangeEvent& batch, std::deque<ChangeEvent>& out) {
  std::string scratch;
  FERRY_ASSIGN_OR_RETURN(std::string_view text, RowBatchText(batch, scratch));
  ChangeEvent head = batch;
  head.clear_copy_rows();
  head.clear_row_count();
  head.clear_copy_rows_lz4_size();
  head.set_op(batch.op() == ferry::v1::OP_INSERT_ROWS ? ferry::v1::OP_INSERT : ferry::v1::OP_READ);
  uint32_t rows = 0;
  Status st = ReadCopyRows(text, static_cast<size_t>(head.columns_size()), [&](CopyRow& row) {
    ChangeEvent& e = out.emplace_back(head);
    for (int i = 0; i < e.columns_size(); ++i) {
      Column* c = e.mutable_columns(i);
      if (!row[i]) {
        c->set_kind(Column::KIND_NULL);
      } else {
        c->set_kind(Column::KIND_TEXT);
        c->set_value(std::move(*row[i]));
      }
    }
    ++rows;
    return Status::OK();
  });
  if (st.ok() && rows != batch.row_count()) {
    st = Status::InvalidArgument("it holds " + std::to_string(rows) + " rows, not " +
                                 std::to_string(batch.row_count()) + " as it says");
  }
  if (!st.ok()) return Status::Corruption("reading the rows of " + DescribeEvent(batch) + ": " + st.message());
  return st;
}

}  // namespace ferry::apply
