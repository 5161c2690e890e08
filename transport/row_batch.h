// Row batches: events that carry many rows in COPY's text format
// (change_event.proto's OP_READ_ROWS and OP_INSERT_ROWS), how big one gets and
// how its rows are stored.
//
// Thread-safety: functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "transport/change_event.pb.h"

namespace ferry::transport {

// A row batch's rows, at most, uncompressed (a larger row travels alone):
// well under Kafka's default limit of a message (message.max.bytes, 1 MB).
inline constexpr size_t kRowBatchBytes = size_t{512} << 10;

// Whether `op` carries its rows in copy_rows.
inline bool IsRowBatch(ferry::v1::Operation op) {
  return op == ferry::v1::OP_READ_ROWS || op == ferry::v1::OP_INSERT_ROWS;
}

// Sets the batch's copy_rows to `text` (`rows` rows), LZ4-compressed when
// that is smaller, so that flow control counts what Kafka stores.
void SetBatchRows(ferry::v1::ChangeEvent& batch, std::string_view text, uint32_t rows);

}  // namespace ferry::transport
