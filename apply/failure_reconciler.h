// Reconciler: replays parked units once their cause is fixed, and handles the
// operator's `ferry failures retry|drop` and `ferry reconcile --once`.
//
// A pass reads the failure store once and goes through its units (a parked
// transaction: the records sharing a unit, apply/parking.h) in park order. A
// unit is replayed when it is complete (its OP_END was parked) and at the head
// of each of its rows: no earlier unit still parked changes one of them (and,
// for a TRUNCATE, none changes its table; behind a TRUNCATE, nothing of its
// table goes first). A replay is one target transaction holding the whole
// unit, through the same TargetWriter and conflict rule apply uses; the unit's
// records are then removed in one write, and its rows are free for the units
// behind it in the same pass. A replay the target still rejects counts an
// attempt and waits: in the periodic passes inside apply a unit is tried again
// after 1 s doubling per attempt, at most 10 s; a pass by hand (--once,
// `failures retry`) tries at once. Messages that are not ChangeEvents are never
// replayed: only `failures drop` removes them.
//
// Replaying is safe to repeat: the target commits the unit before its records
// are removed, and applying a row's head unit twice under `replace` leaves the
// row as applying it once.
//
// Thread-safety: one thread, the one that owns the store and the writer.
#pragma once

#include <cstdint>
#include <string>

#include "apply/target_writer.h"
#include "checkpoint/failure_store.h"
#include "common/status.h"

namespace ferry::apply {

struct ReconcilePass {
  int64_t replayed = 0;  // units applied and removed
  int64_t failed = 0;    // units the target still rejects
  int64_t waiting = 0;   // records still parked after the pass
  std::string ToString() const;
};

class Reconciler {
 public:
  explicit Reconciler(checkpoint::FailureStore& store) : store_(store) {}

  // One pass; with `due_only`, units still backing off are skipped (and the
  // pass is skipped while nothing can be due).
  // Unavailable when the target connection is lost (reconnect, call again).
  Result<ReconcilePass> Pass(TargetWriter& writer, bool due_only);
  // Replays the unit of record `id` now. InvalidArgument when it waits behind
  // another unit, is incomplete, or is not a ChangeEvent.
  Status Retry(TargetWriter& writer, uint64_t id);
  // Removes the unit of record `id` for good (the operator's decision), logged.
  Status Drop(uint64_t id);

  // Runs one request line ("retry <id>", "drop <id>", "reconcile") and says
  // what happened. `writer` may be null for drop.
  Result<std::string> Execute(const std::string& request, TargetWriter* writer);

 private:
  checkpoint::FailureStore& store_;
  int64_t quiet_until_us_ = 0;     // no unit can be due before then
  uint64_t count_at_quiet_ = 0;    // unless the store changed
};

}  // namespace ferry::apply
