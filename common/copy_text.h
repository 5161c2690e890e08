// COPY's text format (PostgreSQL's "COPY .. TEXT"): one line per row, values
// separated by a tab, \N for NULL, and a backslash escaping the characters
// that would end a value or a row. Capture writes a snapshot chunk's rows in
// it (one event carries many rows: transport/change_event.proto,
// OP_READ_ROWS) and apply hands them to COPY FROM STDIN unchanged, or reads
// them back into rows where COPY cannot take them.
//
// Thread-safety: functions.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace ferry {

// Appends `value` escaped, or \N when it is nullopt. No separator.
void AppendCopyValue(std::string& out, std::optional<std::string_view> value);

// Appends one row of `columns` values as a line: `value(i)` gives the i-th
// (nullopt for NULL), whatever holds the row.
template <typename ValueAt>
void AppendCopyLine(std::string& out, size_t columns, const ValueAt& value) {
  for (size_t i = 0; i < columns; ++i) {
    if (i > 0) out += '\t';
    AppendCopyValue(out, value(i));
  }
  out += '\n';
}

// One row as ReadCopyRows decodes it: a value per column, nullopt for NULL.
using CopyRow = std::vector<std::optional<std::string>>;

// Decodes `data` (whole rows, each ending in a newline) and calls `row` for
// each, in order, with `columns` values. A row with another number of values,
// a missing final newline or a backslash at the end of a value is
// InvalidArgument naming the row (1-based); `row`'s own error stops the walk.
// Accepts every escape COPY writes: \b \f \n \r \t \v \\, octal \ooo and \xhh.
Status ReadCopyRows(std::string_view data, size_t columns, const std::function<Status(CopyRow&)>& row);

}  // namespace ferry
