// ReplayGuard: drops events a partition has already delivered.
//
// Capture publishes each partition's events in source commit order, so within a
// partition every new event stands after the last one applied. An event at or
// before it is a replay: capture resending after its own or the source's crash
// (harmless either way), or a producer retry the broker wrote twice, possibly
// after newer events (the dev broker does this; applying it would revert a row).
// The last applied position per partition is loaded from, and saved to, the
// PositionStore with the offsets, so the guard holds across restarts. A second
// source, the position the target committed with the rows
// (apply/applied_progress.h), is consulted too and the later one wins: it
// covers a crash after the target commit and before the store's write.
//
// REQUIRES of the producer: each partition holds a gapless prefix of what
// capture produced (no message lost while a later one got through), else a
// resent older event would be taken for a replay. EventProducer guarantees it
// (message.timeout.ms=0, enable.gapless.guarantee=true).
//
// Thread-safety: one thread.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <vector>

#include "checkpoint/position_store.h"
#include "common/status.h"
#include "common/topic_partition.h"
#include "transport/change_event.pb.h"

namespace ferry::apply {

// Where a message was read.
struct MessageOrigin {
  TopicPartition tp;
  int64_t offset = -1;
};

class ReplayGuard {
 public:
  using Lookup =
      std::function<Result<std::optional<checkpoint::EventPosition>>(const TopicPartition&)>;
  explicit ReplayGuard(checkpoint::PositionStore& store, Lookup on_target = nullptr)
      : store_(store), on_target_(std::move(on_target)) {}

  // One message of a batch, in the order consumed.
  struct Item {
    TopicPartition tp;
    int64_t offset;
    ferry::v1::ChangeEvent event;
  };
  struct Filtered {
    std::vector<ferry::v1::ChangeEvent> events;                         // to apply, in order
    std::vector<MessageOrigin> origins;                                 // of each event
    std::map<TopicPartition, checkpoint::PartitionProgress> progress;  // to store once applied
    int64_t replays = 0;                                                // dropped
    std::map<TopicPartition, int64_t> commit_time_us;  // of each partition's last new event
  };
  // Splits a batch into new events (moved out of `batch`) and replays. The
  // guard itself changes only in Commit.
  Result<Filtered> Filter(std::vector<Item> batch);
  // Counts a message that carried no event (parked garbage) as handled.
  Status PassOver(const MessageOrigin& origin, Filtered* filtered);
  // Records that `progress` has been applied and stored.
  void Commit(const std::map<TopicPartition, checkpoint::PartitionProgress>& progress);
  // Forgets what was loaded, so that positions are read again (after the
  // target connection was lost mid-commit, or partitions were reassigned).
  void Forget() { last_.clear(); }

 private:
  Result<std::optional<checkpoint::EventPosition>> LastApplied(const TopicPartition& tp);

  checkpoint::PositionStore& store_;
  Lookup on_target_;
  std::map<TopicPartition, std::optional<checkpoint::EventPosition>> last_;
};

checkpoint::EventPosition PositionOf(const ferry::v1::ChangeEvent& e);

}  // namespace ferry::apply
