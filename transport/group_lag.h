// GroupLagMonitor: how far a consumer group is behind, per partition, seen from
// outside the group (it never joins it). Used by capture's flow control and by
// `ferry lag`.
//
// Thread-safety: one thread uses a monitor.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "common/topic_partition.h"
#include "transport/kafka_options.h"

namespace ferry::transport {

struct PartitionLag {
  TopicPartition tp;
  int64_t log_start = 0;   // low watermark
  int64_t log_end = 0;     // high watermark
  int64_t committed = -1;  // group's committed offset, -1 when none
  std::string metadata;    // stored with the committed offset (apply's: commit_metadata.h)
  // Messages written but not yet committed by the group.
  int64_t lag() const { return log_end - (committed < 0 ? log_start : committed); }
  // The next offset the group reads: the later of the committed offset and
  // the read_offset apply reports in the commit metadata (ahead of the
  // committed offset while one large transaction is applied); the log start
  // when the group has neither.
  int64_t read_position() const;
  // Messages written but not yet read by the group.
  int64_t unread() const { return log_end - read_position(); }
};

class GroupLagMonitor {
 public:
  static Result<std::unique_ptr<GroupLagMonitor>> Create(const KafkaOptions& options,
                                                          const std::string& group_id);
  ~GroupLagMonitor();
  // Topics whose names start with `prefix`.
  Result<std::vector<std::string>> ListTopics(const std::string& prefix, int timeout_ms);
  // Lag of every partition of `topics`; topics that do not exist have none
  // (they are not created by asking). Partition counts are cached for a few
  // seconds (a topic not in the cache is looked up at once), so frequent calls
  // cost one offset fetch and one list-offsets request per partition.
  Result<std::vector<PartitionLag>> Query(const std::vector<std::string>& topics, int timeout_ms);

 private:
  struct Impl;
  explicit GroupLagMonitor(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ferry::transport
