// EventConsumer: reads change events as a member of a Kafka consumer group,
// subscribed to a topic (or to every topic matching a regex: new topics picked
// up within topic.metadata.refresh.interval.ms, default here 2000).
//
// Positions: ferry, not Kafka, decides where each assigned partition starts.
// On every assignment the consumer asks `start_offset` (apply's position,
// which the target holds) and starts there; without one, at the partition's
// first offset. The group's committed offset is only read to keep it in step
// (it is written after the target committed, for Kafka tooling and `ferry lag`). A start below the partition's log start
// offset means events were deleted before apply read them: PollBatch then fails
// with DataLoss naming the partition and the gap; so does a start beyond the
// partition's end (the broker lost acknowledged messages: a restarted dev
// broker is empty), and a fetch position that falls out of the log while
// reading. auto.offset.reset never papers over it.
//
// Offsets are not auto-committed: CommitOffsets is called by apply after its
// own durable write. A stored position past the group's committed offset is
// committed to the group on assignment, so the group's view (what `ferry lag`
// reads) catches up with what was applied before a crash.
//
// Thread-safety: one thread uses an EventConsumer.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "common/topic_partition.h"
#include "transport/kafka_options.h"

namespace ferry::transport {

struct ConsumedMessage {
  TopicPartition tp;
  int64_t offset = -1;
  uint64_t generation = 0;  // the assignment it was read under (see generation())
  std::string key;
  std::string value;
};

class EventConsumer {
 public:
  // Next offset to read for tp from the caller's store; nullopt when none.
  // Called on assignment, from inside PollBatch.
  using StartOffsetFn = std::function<Result<std::optional<int64_t>>(const TopicPartition&)>;
  // Called when partitions are revoked, from inside PollBatch, before another
  // member may read them: whatever the caller holds of them is no longer its.
  using RevokeFn = std::function<void(const std::vector<TopicPartition>&)>;

  // topic: a topic name, or a librdkafka subscription regex ("^ferry\\..*").
  static Result<std::unique_ptr<EventConsumer>> Create(const KafkaOptions& options,
                                                        const std::string& group_id,
                                                        const std::string& topic,
                                                        StartOffsetFn start_offset,
                                                        RevokeFn on_revoke = nullptr);
  ~EventConsumer();

  // Returns up to `max_messages`, waiting at most timeout_ms for the first; an
  // empty vector on timeout. Messages of one partition come in offset order.
  // Messages read before a rebalance served during the call carry the older
  // generation.
  // Fails on a consumer error that needs the caller (DataLoss, fatal errors).
  Result<std::vector<ConsumedMessage>> PollBatch(size_t max_messages, int timeout_ms);
  // Commits next-offsets to the group (asynchronously; a failure is logged and
  // the latest offsets are sent again by the next PollBatch). `metadata`, when it has an entry for a
  // partition, is stored with that partition's offset (see commit_metadata.h).
  Status CommitOffsets(const std::map<TopicPartition, int64_t>& next_offsets,
                       const std::map<TopicPartition, std::string>& metadata = {});
  // Events in the assigned partitions not yet consumed: the last known log end
  // minus the consumer's position, summed (no broker round trip; the log end is
  // as fresh as the last fetch).
  int64_t EventsBehind() const;
  // The partitions currently assigned to this member.
  std::vector<TopicPartition> Assignment() const;
  // Counts assignments and revocations: a message whose generation differs
  // was read under an assignment that has since changed.
  uint64_t generation() const;
  // Reads `tp` from `offset` next; messages fetched beyond it are dropped.
  Status Seek(const TopicPartition& tp, int64_t offset);
  // Leaves the group cleanly.
  Status Close();

 private:
  struct Impl;
  explicit EventConsumer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ferry::transport
