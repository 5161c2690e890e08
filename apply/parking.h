// Parking: what apply does when the target rejects an event (`--on-error`).
//
// Only errors about one event are handled here: the target does not fit the
// event or rejects a value or constraint (InvalidArgument: SQLSTATE classes 22,
// 23, 42, a missing table or column), or the event itself is malformed
// (Corruption). A lost connection or a target that is down (Unavailable) is
// returned to apply's loop, which reconnects and applies the same events
// again, as before; nothing is parked because the target restarted.
//
// A batch that fails is narrowed to the failing event by bisection: each half
// is applied as its own transaction, in order, until the failing range is one
// event; the events around it are applied. That event is then, by mode:
//   stop   returned as an error naming table, key, commit LSN and the target's
//          error; apply stores no position past it, so a restart after the fix
//          applies it (events before it may already be applied; replaying them
//          is idempotent).
//   retry  applied again with exponential backoff (common/signals.h Backoff),
//          up to retry_max times; then parked with park_after_retries, else
//          stopped as above.
//   park   parked in the FailureStore, and apply goes on.
// Once a row has a parked event, every later event of that row is parked
// behind it, in order (so per-row order holds), until the reconciler has
// replayed them all. A TRUNCATE is held while any row of its table is parked,
// and holds every later event of its table.
//
// Durability: parking is a synced write that happens before apply stores a
// position past the message, and it is idempotent per message, so a crash
// neither loses a parked event nor parks it twice.
//
// Thread-safety: one thread (apply's loop).
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "apply/replay_guard.h"
#include "apply/target_writer.h"
#include "checkpoint/failure_store.h"
#include "common/status.h"
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

// Whether `s` is about one event (park or retry it), not about the target.
bool IsEventError(const Status& s);

// The failure store's row of an event: `"schema"."table"` NUL key-JSON; a
// TRUNCATE's row, and every row of a REPLICA IDENTITY FULL table, is the table
// part alone (TableOfRow of every row of it): the whole table waits behind it.
std::string ParkingRow(const ferry::v1::ChangeEvent& e);
std::string_view TableOfRow(std::string_view row);

// DescribeEvent plus the row key: `UPDATE on "public"."t" at commit LSN
// 0/16B3748 (event 3 of its transaction), key {"id":"5"}`.
std::string DescribeWithKey(const ferry::v1::ChangeEvent& e);

// A message that is not a ChangeEvent.
struct Garbage {
  MessageOrigin origin;
  std::string bytes;
  std::string error;
};

class EventApplier {
 public:
  EventApplier(const FailurePolicy& policy, checkpoint::FailureStore& store)
      : policy_(policy), store_(store) {}

  // Applies `events` (origins[i] is where events[i] was read) in order. OK when
  // each was applied or parked. Unavailable: reconnect and call again with the
  // same events (safe: applied ones replay idempotently, parked ones are not
  // parked twice). Any other error stops apply.
  // `progress` is recorded on the target with the events when they all apply
  // in one transaction (the usual case). When a rejected event splits the
  // batch, the pieces commit without it and RocksDB's position covers them.
  // REQUIRES: events.size() == origins.size(); a row's events in commit order.
  Status Apply(TargetWriter& writer, std::span<const ferry::v1::ChangeEvent> events,
               std::span<const MessageOrigin> origins, std::span<const AppliedPosition> progress = {});
  // Parks messages that are not ChangeEvents; under stop, Corruption naming
  // the first one instead.
  Status ParkGarbage(const std::vector<Garbage>& garbage);
  // Events parked by this applier so far.
  int64_t parked() const { return parked_; }

 private:
  bool Held(const ferry::v1::ChangeEvent& e) const;
  Status ApplyUnheld(TargetWriter& writer, std::span<const ferry::v1::ChangeEvent> events,
                     std::span<const MessageOrigin> origins, std::span<const AppliedPosition> progress);
  Status HandleFailure(TargetWriter& writer, const ferry::v1::ChangeEvent& e,
                       const MessageOrigin& origin, Status error);
  Status Retry(TargetWriter& writer, const ferry::v1::ChangeEvent& e, Status* error);
  Status Park(std::vector<checkpoint::ParkedEvent> records);

  FailurePolicy policy_;
  checkpoint::FailureStore& store_;
  int64_t parked_ = 0;
};

// A record for an event, seen now.
checkpoint::ParkedEvent RecordFor(const ferry::v1::ChangeEvent& e, const MessageOrigin& origin,
                                  const std::string& error, uint32_t attempts);
int64_t NowMicros();

}  // namespace ferry::apply
