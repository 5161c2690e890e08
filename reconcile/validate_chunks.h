// Key ranges and the digests validate compares, each computed inside the
// database so that rows cross the network only for chunks that differ.
//
// A KeyRange is the half-open interval after < key <= upto (either end may be
// open) in the table's key order. Boundaries are keys sampled from one side
// (every N-th key, SampleBoundaries) and applied to both sides, so a chunk
// selects the same key interval on each.
//
// A chunk's digest is its row count and the sum (as numeric, so it never
// overflows) of a 64-bit hash of each row's text: order-independent, so the
// database needs no sort. Rows are hashed on the common columns only
// (ValidatedTable::RowHash).
//
// A table without a key is one range (the whole table) whose "key" is the row
// text itself: rows are compared as a multiset, fetched whole on a mismatch.
//
// Thread-safety: functions; a PgConn is used by one thread at a time.
// REQUIRES: PrepareValidateSession ran on every connection passed here.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/pg.h"
#include "reconcile/validate_table.h"

namespace ferry::reconcile {

// Key column values in text form, in key column order.
using KeyValues = std::vector<std::string>;

// An unambiguous map key for a key tuple (values may hold any character).
std::string KeyId(const KeyValues& key);

struct KeyRange {
  std::optional<KeyValues> after;  // exclusive lower bound; nullopt: unbounded
  std::optional<KeyValues> upto;   // inclusive upper bound; nullopt: unbounded
};

struct ChunkDigest {
  int64_t rows = 0;
  std::string hash_sum;  // numeric as text
  bool operator==(const ChunkDigest&) const = default;
};

// One row's identity and content hash. For a keyless table key is {row text}.
struct RowDigest {
  KeyValues key;
  std::string md5;
};

Result<ChunkDigest> HashChunk(const PgConn& conn, const ValidatedTable& t, const KeyRange& range);

// Every `every`-th key within `range`, ascending. REQUIRES: t.HasKey(), every > 0.
Result<std::vector<KeyValues>> SampleBoundaries(const PgConn& conn, const ValidatedTable& t,
                                                const KeyRange& range, int64_t every);

// Cuts `range` at the ascending `boundaries` (all inside it): n boundaries give
// n+1 ranges covering exactly `range`.
std::vector<KeyRange> SplitRange(const KeyRange& range, const std::vector<KeyValues>& boundaries);

// Row digests of a range, in key order.
Result<std::vector<RowDigest>> FetchRowDigests(const PgConn& conn, const ValidatedTable& t,
                                               const KeyRange& range);

// Row digests of the given keys (those that exist). REQUIRES: t.HasKey().
Result<std::vector<RowDigest>> FetchRowDigestsByKey(const PgConn& conn, const ValidatedTable& t,
                                                    const std::vector<KeyValues>& keys);

// "(k1, k2) IN (($1, $2), ($3, $4))" for `keys`, their values appended to
// params (numbered from params->size() + 1). REQUIRES: t.HasKey(), keys non-empty.
std::string KeyInList(const ValidatedTable& t, const std::vector<KeyValues>& keys,
                      std::vector<PgParam>* params);

}  // namespace ferry::reconcile
