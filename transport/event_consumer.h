// EventConsumer: reads change events as a member of a Kafka consumer group,
// subscribed to every topic matching a regex (new topics picked up within
// topic.metadata.refresh.interval.ms, default here 2000).
//
// Positions: ferry, not Kafka, decides where each assigned partition starts.
// On every assignment the consumer asks `start_offset` (apply's RocksDB
// position) and the group's committed offset, and starts at the later of the
// two (both are only ever written after the target committed). With neither, it
// starts at the partition's first offset. A start below the partition's log start
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
  std::string key;
  std::string value;
};

class EventConsumer {
 public:
  // Next offset to read for tp from the caller's store; nullopt when none.
  using StartOffsetFn = std::function<Result<std::optional<int64_t>>(const TopicPartition&)>;

  // topic_regex: a librdkafka subscription regex, e.g. "^ferry\\..*".
  static Result<std::unique_ptr<EventConsumer>> Create(const KafkaOptions& options,
                                                        const std::string& group_id,
                                                        const std::string& topic_regex,
                                                        StartOffsetFn start_offset);
  ~EventConsumer();

  // Returns up to `max_messages`, waiting at most timeout_ms for the first; an
  // empty vector on timeout. Messages of one partition come in offset order.
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
  // Leaves the group cleanly.
  Status Close();

 private:
  struct Impl;
  explicit EventConsumer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ferry::transport
