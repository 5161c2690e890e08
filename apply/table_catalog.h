// TableCatalog: what apply needs to know about a target table, read from the
// target's catalog once per table and cached.
//
// For each table: its columns (name, type as format_type prints it) and the
// unique keys that can serve as an ON CONFLICT arbiter: the primary key and the
// valid, immediate, non-partial unique indexes on plain columns (INCLUDE
// columns are not part of a key).
//
// Thread-safety: none; owned by one TargetWriter. The PgConn must outlive it
// and must not be in pipeline mode while Get/Refresh run.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/pg.h"
#include "common/status.h"

namespace ferry::apply {

struct ColumnInfo {
  std::string name;
  std::string type;       // format_type(atttypid, atttypmod), e.g. "numeric(40,0)"
  std::string base_type{};  // format_type(atttypid, NULL), e.g. "numeric"
  uint32_t type_oid = 0;  // atttypid: parameters are typed with it (no typmod, so
                          // assignment applies the column's length checks)
  uint32_t array_type_oid = 0;  // its array type (typarray): a run's values travel
                                // as one array; 0 when the type has none
  bool generated = false;        // GENERATED ALWAYS AS (..) STORED: never written
  bool identity_always = false;  // GENERATED ALWAYS AS IDENTITY: inserts need OVERRIDING
};

struct TableInfo {
  std::string schema;
  std::string table;
  std::vector<ColumnInfo> columns;  // in attnum order
  // Each key's column names in index order; the primary key (if any) first.
  std::vector<std::vector<std::string>> unique_keys;
  bool partitioned = false;  // relkind 'p': ctid alone does not name a row
  bool has_rules = false;    // relhasrules: INSERT follows them, COPY would not
  // Unique indexes and exclusion constraints of every kind (deferrable,
  // partial, on expressions too): what an update's row order can violate.
  int unique_indexes = 0;

  // True when some column is GENERATED ALWAYS AS IDENTITY.
  bool HasIdentityAlways() const;

  // "schema"."table", quoted.
  std::string QualifiedName() const;
  // nullptr when the table has no such column.
  const ColumnInfo* FindColumn(std::string_view name) const;
  // True when some unique key has exactly these columns, in any order.
  bool HasUniqueKey(const std::vector<std::string>& columns) const;
};

class TableCatalog {
 public:
  explicit TableCatalog(const PgConn* conn) : conn_(conn) {}

  // The cached metadata, read from the catalog on first use. A missing table is
  // InvalidArgument: "target table "s"."t" does not exist: create it first".
  // The pointer stays valid until Refresh/Clear drop the entry.
  Result<const TableInfo*> Get(const std::string& schema, const std::string& table);
  // As Get, but a missing table is nullptr (not cached), not an error.
  Result<const TableInfo*> Find(const std::string& schema, const std::string& table);
  // The cached entry, without asking the server; nullptr when not cached.
  const TableInfo* Cached(const std::string& schema, const std::string& table) const;
  // Drops the cached entry and reads it again (after the target's DDL changed).
  Result<const TableInfo*> Refresh(const std::string& schema, const std::string& table);
  void Clear() { cache_.clear(); }

 private:
  Result<std::unique_ptr<TableInfo>> Load(const std::string& schema, const std::string& table);

  const PgConn* conn_;
  std::map<std::pair<std::string, std::string>, std::unique_ptr<TableInfo>> cache_;
};

}  // namespace ferry::apply
