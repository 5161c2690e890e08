// The table ferry.apply_progress on the target: per Kafka partition, the last
// event applied from it, written in the same transaction as the events.
//
// Why on the target: RocksDB positions are written after the target commit, so
// a crash between the two replays events the target already holds. Under the
// none and merge rules, and for tables without a key, applying them again is
// not harmless (a replayed insert would count as a conflict, or duplicate a
// row). Positions committed with the rows are exact: apply seeds its replay
// guard from them at start and after a failed commit.
//
//   ferry.apply_progress(topic text, partition int, commit_lsn pg_lsn, idx bigint,
//                        commit_time timestamptz, updated_at timestamptz,
//                        PRIMARY KEY (topic, partition))
//
// Thread-safety: none; functions take the writer's connection.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "checkpoint/position_store.h"
#include "common/pg.h"
#include "common/status.h"
#include "common/topic_partition.h"

namespace ferry::apply {

// What a batch applied from one partition.
struct AppliedPosition {
  TopicPartition tp;
  checkpoint::EventPosition position;
  int64_t commit_time_us = 0;  // of the event at `position`
};

// Creates the schema and table if missing (safe when several apply processes race).
Status EnsureProgressTable(const PgConn& conn);

// The upsert of one partition's position; parameters from ProgressParams.
extern const char* const kUpsertProgressSql;
std::vector<std::string> ProgressParams(const AppliedPosition& p);

// The position stored for `tp`, nullopt when none.
Result<std::optional<checkpoint::EventPosition>> LoadProgress(const PgConn& conn,
                                                              const TopicPartition& tp);

}  // namespace ferry::apply
