// Parking: what apply does when the target rejects a unit (`--on-error`), and
// the records parked units become.
//
// Only errors about the events are handled here: the target does not fit an
// event or rejects a value or constraint (InvalidArgument: SQLSTATE classes 22,
// 23, 42, a missing table or column), or an event is malformed (Corruption).
// A lost connection or a target that is down (Unavailable) is retried by
// apply's loop; nothing is parked because the target restarted.
//
// The unit (a whole source transaction) that failed is, by mode:
//   stop   reported naming its transaction, table, key, commit LSN, offsets and
//          the target's error; nothing of it is applied and the position stays
//          before it, so a restart after the fix applies it;
//   retry  applied again (alone, in its own transaction) with exponential
//          backoff, up to retry_max times; then parked with park_after_retries,
//          else stopped as above;
//   park   parked whole in the FailureStore (every event, then its OP_END),
//          and apply goes on with the transactions after it.
// A later unit that changes a row of a parked unit (or a table behind a parked
// TRUNCATE) is parked behind it, whole, so each row's changes keep their
// order; the reconciler replays parked units in order, each as one target
// transaction, once the cause is fixed.
//
// Durability: parking is a synced write before apply records a position past
// the unit on the target, and it is idempotent per message, so a crash neither
// loses a parked unit nor parks it twice.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "checkpoint/failure_store.h"
#include "common/status.h"
#include "common/topic_partition.h"
#include "transport/change_event.pb.h"

namespace ferry::apply {

enum class OnError { kStop, kRetry, kPark };

struct FailurePolicy {
  OnError on_error = OnError::kRetry;
  int retry_max = 5;                // retry mode: retries after the first failure
  bool park_after_retries = false;  // retry mode: park once retries run out, else stop
};

// "stop" | "retry" | "park"; InvalidArgument for anything else.
Result<OnError> ParseOnError(const std::string& text);

// Whether `s` is about the events (park or retry them), not about the target.
bool IsEventError(const Status& s);

// The failure store's row of an event: `"schema"."table"` NUL key-JSON; a
// TRUNCATE's row, and every row of a REPLICA IDENTITY FULL table, is the table
// part alone (TableOfRow of every row of it): the whole table waits behind it.
std::string ParkingRow(const ferry::v1::ChangeEvent& e);
std::string_view TableOfRow(std::string_view row);

// DescribeEvent plus the row key: `UPDATE on "public"."t" at commit LSN
// 0/16B3748 (event 3 of its transaction), key {"id":"5"}`.
std::string DescribeWithKey(const ferry::v1::ChangeEvent& e);

// Whether any of `events` must wait behind a parked unit: one of its rows is
// parked, its table is behind a parked TRUNCATE, or it is a TRUNCATE of a
// table with parked rows.
bool HeldByParked(const checkpoint::FailureStore& store, std::span<const ferry::v1::ChangeEvent> events);

// The records of a unit's events (unit: the offset of its first message),
// read from `tp` at `offsets`.
std::vector<checkpoint::ParkedEvent> UnitRecords(std::span<const ferry::v1::ChangeEvent> events,
                                                 std::span<const int64_t> offsets, const TopicPartition& tp,
                                                 int64_t unit, const std::string& error, uint32_t attempts);

// A message that is not a ChangeEvent.
struct Garbage {
  TopicPartition tp;
  int64_t offset = -1;
  std::string bytes;
  std::string error;
};
checkpoint::ParkedEvent GarbageRecord(const Garbage& g);

int64_t NowMicros();

}  // namespace ferry::apply
