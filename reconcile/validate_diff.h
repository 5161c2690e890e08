// Narrowing a mismatching chunk down to the rows that differ.
//
// A chunk whose larger side holds at most `fetch_rows` rows is settled by
// fetching (key, md5 of row text) from both sides and comparing them; a larger
// one is split into about `fanout` sub-ranges at keys sampled from its larger
// side (the source's keys cannot split a range that only the target fills),
// each sub-range hashed on both sides, and only the differing ones narrowed
// further.
//
// Thread-safety: functions. REQUIRES: PrepareValidateSession on both connections.
#pragma once

#include <cstdint>
#include <vector>

#include "reconcile/validate_chunks.h"

namespace ferry::reconcile {

enum class RowProblem {
  kMissing,    // on the source, not on the target
  kExtra,      // on the target, not on the source
  kDifferent,  // on both, with different values
};

// "missing", "extra", "different"
const char* RowProblemName(RowProblem p);

struct RowMismatch {
  KeyValues key;  // for a keyless table: {row text}
  RowProblem problem;
  bool operator==(const RowMismatch&) const = default;
};

// Compares two digest lists as multisets keyed by key: source rows first (in
// source order), then extras (in target order).
std::vector<RowMismatch> DiffDigests(const std::vector<RowDigest>& source,
                                     const std::vector<RowDigest>& target);

struct NarrowOptions {
  int64_t fetch_rows = 1000;
  int64_t fanout = 16;
};

// The rows that differ within `range`, whose digests on each side are given.
Result<std::vector<RowMismatch>> NarrowRange(const PgConn& source, const PgConn& target,
                                             const ValidatedTable& t, const KeyRange& range,
                                             const ChunkDigest& source_digest,
                                             const ChunkDigest& target_digest,
                                             const NarrowOptions& options);

// Re-compares rows seen mismatching: by key for a keyed table, the whole table
// for a keyless one. Returns the rows that still differ.
Result<std::vector<RowMismatch>> RecheckRows(const PgConn& source, const PgConn& target,
                                             const ValidatedTable& t,
                                             const std::vector<RowMismatch>& rows);

}  // namespace ferry::reconcile
