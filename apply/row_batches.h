// Row batches: OP_READ_ROWS events (transport/change_event.proto), a
// snapshot chunk's rows in COPY's text format, and OP_INSERT_ROWS, a
// transaction's run of inserts so. TargetWriter hands consecutive batches of
// one table to COPY as they are; where COPY cannot take them (the target holds
// some of the rows, lacks a column, computes one, has rules) or one statement
// per row is wanted, it reads them back into one OP_READ (OP_INSERT) event per
// row, which the ordinary path applies under the conflict rule.
//
// Thread-safety: functions.
#pragma once

#include <deque>
#include <span>

#include "apply/statement_parts.h"
#include "apply/table_catalog.h"
#include "common/status.h"
#include "transport/change_event.pb.h"

namespace ferry::apply {

// Whether `next` is a batch that joins batch `first`'s COPY: same operation,
// same table, same columns in the same order.
bool SameRowBatchShape(const ferry::v1::ChangeEvent& first, const ferry::v1::ChangeEvent& next);

// The batch's columns, when COPY can write them into `table` as they are:
// each exists there and is not generated. Else empty.
Names RowBatchCopyColumns(const ferry::v1::ChangeEvent& batch, const TableInfo& table);

// The batch's rows in COPY's text format: its copy_rows, or those
// decompressed into `scratch` (Corruption when they do not decompress).
Result<std::string_view> RowBatchText(const ferry::v1::ChangeEvent& batch, std::string& scratch);

// Bytes of the batch's rows, uncompressed.
size_t RowBatchBytes(const ferry::v1::ChangeEvent& batch);

// Appends one OP_READ (for OP_INSERT_ROWS, OP_INSERT) event per row of `batch` to `out` (a deque: earlier
// events stay where they are). Rows that do not decode are Corruption.
Status ExpandRowBatch(const ferry::v1::ChangeEvent& batch, std::deque<ferry::v1::ChangeEvent>& out);

}  // namespace ferry::apply
