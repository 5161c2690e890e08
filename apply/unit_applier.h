// UnitApplier: applies whole units (apply/unit_assembler.h) to the target, in
// order, several consecutive units per target transaction (group commit), and
// records the position of the last one in that same transaction.
//
//   OnUnit        adds a buffered unit to the open group (a target transaction
//                 opened by the first unit); CommitGroup commits it. A unit that
//                 changes a row of a parked unit is parked behind it instead.
//   OnStream*     a unit too large to buffer: the open group is committed first,
//                 then the unit streams into a transaction of its own,
//                 committed at its end (rolled back if abandoned).
//
// Failures (apply/parking.h for --on-error):
//   the target lost or busy (Unavailable): reconnect with backoff; the position
//     row says whether the transaction committed; if not, a buffered group is
//     applied again, a streamed unit is read again from Kafka (rewind);
//   another apply process moved the position (position_moved): the position
//     is reloaded and the partition read again from there (rewind);
//   an event error in a group: the units before the failing one are committed
//     on their own, the failing one is handled by --on-error, the rest follow;
//     in a streamed unit: the unit is read again (rewind), to be applied again
//     (retry) or parked as it streams by (park).
// A rewind is asked for with TakeRewind(): the caller seeks the partition to
// applied().offset + 1 and resets its assembler to applied().
//
// Thread-safety: none; apply's loop owns it.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <type_traits>
#include <vector>

#include "apply/parking.h"
#include "apply/target_writer.h"
#include "apply/unit_assembler.h"
#include "checkpoint/failure_store.h"
#include "common/ferry_metrics.h"
#include "common/status.h"

namespace ferry::apply {

struct GroupLimits {
  size_t max_events = 20000;                // change events per target transaction
  size_t max_bytes = 32 << 20;              // bytes of units held for one transaction
  std::chrono::milliseconds max_age{200};   // how long a transaction stays open
  // ... while snapshot rows stream into a COPY: a snapshot's rows are not
  // waited for by a reader as changes are, and fewer, longer COPYs cost the
  // target less (1M rows of 100 B: 25 COPYs 10% more of its CPU than one).
  // Apply commits anyway once it read all there is (apply_runner.cpp).
  std::chrono::milliseconds max_copy_age{1000};
};

class UnitApplier : public UnitHandler {
 public:
  using Connect = std::function<Result<std::unique_ptr<TargetWriter>>()>;
  UnitApplier(GroupLimits limits, FailurePolicy policy, Connect connect, checkpoint::FailureStore& store)
      : limits_(limits), policy_(policy), connect_(std::move(connect)), store_(store) {}

  // Connects (retrying while the target is unreachable) and loads `tp`'s
  // position; whatever was open is rolled back.
  Result<ApplyPosition> Start(const TopicPartition& tp);
  // Rolls back whatever is open and forgets it (the partition was revoked).
  void Stop();
  // The id of the Kafka cluster the offsets are on, recorded with each position.
  void set_kafka_cluster(std::string id) { kafka_cluster_ = std::move(id); }

  Status OnUnit(Unit unit) override;
  Status OnStreamStart(std::vector<ferry::v1::ChangeEvent> events, std::vector<int64_t> offsets,
                       int64_t first_offset) override;
  Status OnStreamEvents(std::vector<ferry::v1::ChangeEvent> events, std::vector<int64_t> offsets) override;
  Status OnStreamEnd(const ferry::v1::ChangeEvent& end, int64_t end_offset) override;
  Status OnStreamAbandoned() override;

  // Commits the open group, if any.
  Status CommitGroup();
  bool group_open() const { return !group_.empty(); }
  // The open group's snapshot rows are going into the target by a COPY that
  // stays open while more are read (TargetWriter::copying).
  bool copying() const { return writer_ && writer_->copying(); }
  // The open group reached a limit.
  bool GroupDue() const;
  // How long the open group has been open.
  std::chrono::steady_clock::duration group_age() const { return std::chrono::steady_clock::now() - group_opened_; }
  // True once: the caller must read again from applied().
  bool TakeRewind() { return std::exchange(rewind_, false); }
  // What the target holds (committed).
  const ApplyPosition& applied() const { return applied_; }
  bool busy() const { return !group_.empty() || streaming_; }

  // Runs `step` with a connected writer outside any group (reconciler).
  // REQUIRES: !busy().
  Status WithWriter(const std::function<Status(TargetWriter&)>& step);

  int64_t applied_events() const { return applied_events_; }
  int64_t parked_units() const { return parked_units_; }

 private:
  struct Entry {
    Unit unit;
    bool parked = false;  // parked behind a held row: no statements, position only
  };
  // The writer holds pointers into the events of group_'s entries until the
  // group commits (TargetWriter::Hold): growing group_ must move them, not copy.
  static_assert(std::is_nothrow_move_constructible_v<Entry>);
  Status Reconnect(int attempt);
  Status Open();
  Status AddToGroup(Entry entry);
  Status GroupFailed(Status st);
  Status CommitUnits(std::span<Entry> entries);
  Status ApplyAlone(Entry& entry);
  Status HandleUnitFailure(Entry& entry, Status error);
  Status ParkUnit(const Unit& unit, const std::string& error, uint32_t attempts);
  Status CommitPositionOnly(const ApplyPosition& position);
  Status AfterLostTarget(const ApplyPosition& if_committed);
  Status StreamFailed(Status st);
  void AskRewind(const char* why);
  Status ParkStreamed(std::span<const ferry::v1::ChangeEvent> events, std::span<const int64_t> offsets);
  // Events of the open transaction, per table, counted (ferry_apply_events_total)
  // once it commits.
  void Count(std::span<const ferry::v1::ChangeEvent> events);
  void Committed();
  void Discard() { uncommitted_.clear(); }

  GroupLimits limits_;
  FailurePolicy policy_;
  Connect connect_;
  checkpoint::FailureStore& store_;
  std::unique_ptr<TargetWriter> writer_;
  TopicPartition tp_;
  ApplyPosition applied_;
  std::string kafka_cluster_;
  // `p` with the cluster its offset is on.
  ApplyPosition OnCluster(ApplyPosition p) const {
    p.kafka_cluster = kafka_cluster_;
    return p;
  }

  std::vector<Entry> group_;
  size_t group_events_ = 0, group_bytes_ = 0;
  std::chrono::steady_clock::time_point group_opened_;

  // The streamed unit.
  bool streaming_ = false;
  int64_t stream_first_ = -1;
  // A unit to park as it streams by, once read again: its first offset, why.
  std::optional<int64_t> park_stream_;
  std::string park_error_;
  uint32_t park_attempts_ = 0;
  std::map<int64_t, int> stream_retries_;  // by first offset
  // The streamed unit (first offset) whose COPY of inserts the target refused:
  // applied again by statements, which resolve or report each row.
  std::optional<int64_t> stream_without_copy_;

  bool rewind_ = false;
  std::map<std::string, int64_t> uncommitted_;           // by schema.table
  std::map<std::string, metrics::Counter*> counters_;    // by schema.table
  int64_t applied_events_ = 0;
  int64_t parked_units_ = 0;
};

// "transaction at commit LSN 0/16B3748 (xid 812, 3 events, offsets 40..43)".
std::string DescribeUnit(const Unit& unit);

}  // namespace ferry::apply
