// RowFetcher: reads a row's current values from the source, by key.
//
// Used for the one thing pgoutput cannot send: the value of an unchanged TOASTed
// column when an update also changed the row's key (the row moves to a new key
// on the target, so "keep the target's value" is not possible). Reading the
// current value is sound because every later change of that row follows in the
// stream: a newer value is overwritten by the same later events that produced
// it, and a row gone by now is removed by a later event too.
//
// Thread-safety: one thread.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/pg.h"
#include "common/status.h"

namespace ferry::capture {

class RowFetcher {
 public:
  using Values = std::vector<std::optional<std::string>>;  // nullopt: SQL NULL
  virtual ~RowFetcher() = default;
  // `columns` of the row of schema.table whose key columns equal `key` (text
  // forms), in PostgreSQL's text form; nullopt when no such row exists now.
  virtual Result<std::optional<Values>> Fetch(const std::string& schema, const std::string& table,
                                              const std::vector<std::pair<std::string, std::string>>& key,
                                              const std::vector<std::string>& columns) = 0;
};

// Reads from the source over a normal connection, opened on first use, with the
// same output settings as the replication stream so text forms are identical.
class PgRowFetcher : public RowFetcher {
 public:
  explicit PgRowFetcher(std::string conninfo) : conninfo_(std::move(conninfo)) {}
  Result<std::optional<Values>> Fetch(const std::string& schema, const std::string& table,
                                      const std::vector<std::pair<std::string, std::string>>& key,
                                      const std::vector<std::string>& columns) override;

 private:
  std::string conninfo_;
  PgConn conn_;
};

}  // namespace ferry::capture
