// The table ferry.apply_progress on the target: apply's position of record.
//
// One row per Kafka partition apply reads (one per pipeline: the changes topic
// has one partition), written in the same target transaction as the units it
// covers, so the target alone says exactly which source transactions it holds:
// a crash at any moment, of apply or of the target, neither loses nor repeats a
// unit. Apply resumes reading Kafka right after `kafka_offset`.
//
//   ferry.apply_progress(topic text, partition int, commit_lsn pg_lsn, idx bigint,
//                        commit_time timestamptz, updated_at timestamptz,
//                        kafka_offset bigint, kafka_cluster text,
//                        PRIMARY KEY (topic, partition))
//
// kafka_offset means something only on the Kafka cluster kafka_cluster names:
// on another one (a restarted dev broker, a migrated cluster) apply reads the
// topic from its start and skips by commit LSN what the target holds.
//
// Several apply processes may share a target (a hot standby in the same
// consumer group). Each target transaction first locks its row and checks that
// it still holds the position the process expects (LockSql); a process whose
// partition moved to another one finds the row moved on and rolls back, so the
// row never goes backwards and no unit is applied twice.
//
// Thread-safety: none; functions take the writer's connection.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/lsn.h"
#include "common/pg.h"
#include "common/status.h"
#include "common/topic_partition.h"
#include "transport/change_event.pb.h"

namespace ferry::apply {

// How far apply got in one partition: the OP_END of the last unit applied.
struct ApplyPosition {
  Lsn commit_lsn;               // of that unit (0/0: nothing applied yet)
  uint32_t index = 0;           // its OP_END's index_in_tx
  int64_t offset = -1;          // its Kafka offset; -1: nothing applied yet
  int64_t commit_time_us = 0;   // its source commit time
  std::string kafka_cluster;    // the cluster `offset` is on (its id); "" when unknown
  // The end of that unit's commit record on the source (OP_END's
  // commit_end_lsn): what the target transaction records in its replication
  // origin (replication_origin.h). Not stored in the row; 0/0 when loaded.
  Lsn commit_end_lsn{};

  // Whether the event stands at or before this position in the partition's order.
  bool Covers(const ferry::v1::ChangeEvent& e) const {
    return Lsn(e.commit_lsn()) < commit_lsn ||
           (Lsn(e.commit_lsn()) == commit_lsn && e.index_in_tx() <= index && offset >= 0);
  }
  bool SameAs(const ApplyPosition& o) const {
    return commit_lsn == o.commit_lsn && index == o.index && offset == o.offset;
  }
  std::string ToString() const;
};

// Creates the schema, table and missing columns (safe when several apply
// processes race).
Status EnsureProgressTable(const PgConn& conn);

// The row of `tp`, inserted as "nothing applied" when missing.
Result<ApplyPosition> LoadOrCreateProgress(const PgConn& conn, const TopicPartition& tp);
// The row of `tp`; nullopt when there is none.
Result<std::optional<ApplyPosition>> LoadProgress(const PgConn& conn, const TopicPartition& tp);

// Locks `tp`'s row for the transaction: params (topic, partition); returns
// (commit_lsn, idx, kafka_offset) to compare with what the process expects.
extern const char* const kLockProgressSql;
// Parses a row of kLockProgressSql.
Result<ApplyPosition> ProgressFromRow(const PGresult* rows, int row);

// The update of `tp`'s row; parameters from ProgressParams.
extern const char* const kUpdateProgressSql;
std::vector<std::string> ProgressParams(const TopicPartition& tp, const ApplyPosition& p);

}  // namespace ferry::apply
