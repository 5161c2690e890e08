// What `ferry validate` compares for one table, read from both catalogs.
//
// A table is compared on the columns both sides have (by name, in the source's
// attnum order; target-only columns are ignored) and ordered by a key taken
// from the source: its primary key, else its first unique index whose columns
// are all NOT NULL (what logical replication accepts as a replica identity).
// A table with neither is compared as one multiset of rows (see
// validate_chunks.h), and is never repaired: without a key there is no row
// identity to overwrite or delete by, which is also why apply refuses it.
//
// Row text: ROW(c1, c2, ..)::text under fixed session settings on both sides
// (PrepareValidateSession), so identical values print identically whatever the
// servers' defaults are.
//
// Thread-safety: values.
#pragma once

#include <string>
#include <vector>

#include "common/pg.h"
#include "common/status.h"

namespace ferry::reconcile {

struct TableName {
  std::string schema;
  std::string table;
  // "schema.table", unquoted, as the user writes it in --tables.
  std::string Display() const { return schema + "." + table; }
  auto operator<=>(const TableName&) const = default;
};

struct ValidatedTable {
  TableName name;
  std::vector<std::string> columns;      // common columns, source order
  // The columns repair writes: common ones not generated on the target (the
  // target computes those; compared, never written).
  std::vector<std::string> written_columns;
  std::vector<std::string> key_columns;  // empty: no usable key
  // Parallel to key_columns: compare with COLLATE "C" (a collatable column
  // whose collation is not already byte order on both sides), so that key
  // ranges cut on the source select the same rows on the target.
  std::vector<bool> key_collate_c;
  std::string key_source;  // "primary key", "unique index <name>" or "none"
  // Read with ONLY on both sides (an inheritance parent's rows are its own; its
  // children are tables of their own); false when either side is partitioned.
  bool only = true;

  bool HasKey() const { return !key_columns.empty(); }
  // What queries read: [ONLY] "schema"."table".
  std::string From() const;
  // ROW("c1", ..)::text
  std::string RowText() const;
  // 64-bit hash of the row text, as a bigint SQL expression: PostgreSQL's
  // hashtextextended (its hash-partitioning hash), 2.5x faster than md5 here.
  // PostgreSQL does not promise it is equal across machines of different byte
  // order; if it is not, every chunk differs and is narrowed by md5 of the row
  // text (portable): slower, never a false match.
  std::string RowHash() const;
  // "k1" [COLLATE "C"], "k2": the ORDER BY list and the row-comparison operand.
  std::string KeyList() const;
};

// Session settings that make every type's text output identical on both
// sides: DateStyle, IntervalStyle, TimeZone, extra_float_digits, bytea_output,
// lc_monetary. Run on every connection validate uses.
Status PrepareValidateSession(const PgConn& conn);

// Tables of user schemas (not pg_catalog, information_schema, pg_toast*, nor
// ferry, the schema of ferry's own bookkeeping such as ferry.apply_progress), plain
// or partitioned, partitions excluded (their rows are read through the parent).
Result<std::vector<TableName>> ListUserTables(const PgConn& conn);
// Relations of user schemas whose pg_class.relkind is one of `relkinds`
// (e.g. "S": sequences), partitions excluded, by schema and name.
Result<std::vector<TableName>> ListUserRelations(const PgConn& conn, const std::string& relkinds);

// "s.t" -> {s, t}; a name without a dot is in public. InvalidArgument when empty.
Result<TableName> ParseTableName(const std::string& text);

// Reads both catalogs. InvalidArgument when the table is missing on either side,
// the two share no column, or it is partitioned on one side and an inheritance
// parent on the other.
Result<ValidatedTable> DescribeTable(const PgConn& source, const PgConn& target,
                                     const TableName& name);

}  // namespace ferry::reconcile
