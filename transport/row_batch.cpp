#include "transport/row_batch.h"

#include "common/lz4_block.h"

namespace ferry::transport {

void SetBatchRows(ferry::v1::ChangeEvent& batch, std::string_view text, uint32_t rows) {
  batch.set_row_count(rows);
  const bool compressed = Lz4Compress(text, *batch.mutable_copy_rows());
  batch.set_copy_rows_lz4_size(compressed ? static_cast<uint32_t>(text.size()) : 0);
  if (!compressed) batch.set_copy_rows(std::string(text));
}

}  // namespace ferry::transport
