// Reconciler: replays parked events once their cause is fixed, and handles the
// operator's `ferry failures retry|drop` and `ferry reconcile --once`.
//
// A pass goes through the failure store in park order and replays each record
// that is at the head of its row (no earlier record of the same row, and no
// earlier TRUNCATE of its table or, for a TRUNCATE, no earlier record of its
// table), through the same TargetWriter and conflict rule apply uses. A
// replayed record is removed; when a row's last record is gone the row is
// released and apply applies its new events again. A replay the target still
// rejects counts an attempt and waits: in the periodic passes inside apply a
// record is tried again after 1 s doubling per attempt, at most 10 s; a pass by
// hand (--once, `failures retry`) tries at once. Messages that are not
// ChangeEvents are never replayed: only `failures drop` removes them.
//
// Replaying is safe to repeat: the target commits the event before the record
// is removed, and applying a row's head event twice under `replace` leaves the
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
  int64_t replayed = 0;  // applied and removed
  int64_t failed = 0;    // the target still rejects them
  int64_t waiting = 0;   // still parked after the pass (behind others, backing off, garbage)
  std::string ToString() const;
};

class Reconciler {
 public:
  explicit Reconciler(checkpoint::FailureStore& store) : store_(store) {}

  // One pass; with `due_only`, records still backing off are skipped.
  // Unavailable when the target connection is lost (reconnect, call again).
  Result<ReconcilePass> Pass(TargetWriter& writer, bool due_only);
  // Replays one record now. FailedPrecondition-like InvalidArgument when it is
  // not at the head of its row, or is not a ChangeEvent.
  Status Retry(TargetWriter& writer, uint64_t id);
  // Removes a record for good (the operator's decision), logged with its event.
  Status Drop(uint64_t id);

  // Runs one request line ("retry <id>", "drop <id>", "reconcile") and says
  // what happened. `writer` may be null for drop.
  Result<std::string> Execute(const std::string& request, TargetWriter* writer);

 private:
  // Tries one record; OK when replayed, an event error when the target still
  // rejects it (recorded as an attempt), Unavailable when the target is gone.
  Status Replay(TargetWriter& writer, const checkpoint::ParkedEvent& r);

  checkpoint::FailureStore& store_;
};

}  // namespace ferry::apply
