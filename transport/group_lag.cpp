#include "transport/group_lag.h"

#include <algorithm>
#include <chrono>
#include <map>

#include "transport/commit_metadata.h"
#include "transport/rdkafka_util.h"

namespace ferry::transport {

namespace {
constexpr auto kPartitionCountsTtl = std::chrono::seconds(5);
}  // namespace

int64_t PartitionLag::read_position() const {
  int64_t position = committed;
  std::optional<int64_t> read = DecodeCommitMetadata(metadata).read_offset;
  if (read) position = std::max(position, *read);
  return position < 0 ? log_start : position;
}

struct GroupLagMonitor::Impl {
  // Partition counts of `topics`, from the cache while it is fresh and has them all.
  Result<std::map<std::string, int>> PartitionCounts(const std::vector<std::string>& topics, int timeout_ms) {
    auto now = std::chrono::steady_clock::now();
    bool fresh = now - fetched_at < kPartitionCountsTtl &&
                 std::all_of(topics.begin(), topics.end(), [&](const auto& t) {
                   auto it = counts.find(t);
                   return it != counts.end() && it->second > 0;
                 });
    if (!fresh) {
      FERRY_ASSIGN_OR_RETURN(counts, FetchTopics(rk.get(), timeout_ms));
      fetched_at = now;
    }
    return counts;
  }

  std::string group_id;
  KafkaPtr rk;  // a consumer with group.id that never subscribes, so never joins
  std::map<std::string, int> counts;
  std::chrono::steady_clock::time_point fetched_at{};
};

GroupLagMonitor::GroupLagMonitor(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
GroupLagMonitor::~GroupLagMonitor() = default;

Result<std::unique_ptr<GroupLagMonitor>> GroupLagMonitor::Create(const KafkaOptions& options,
                                                                 const std::string& group_id) {
  if (group_id.empty()) return Status::InvalidArgument("the consumer group id is empty");
  auto impl = std::make_unique<Impl>();
  impl->group_id = group_id;
  FERRY_ASSIGN_OR_RETURN(
      ConfPtr conf, MakeConf(options, {{"group.id", group_id}, {"enable.auto.commit", "false"}}));
  FERRY_ASSIGN_OR_RETURN(impl->rk, NewClient(RD_KAFKA_CONSUMER, std::move(conf)));
  return std::unique_ptr<GroupLagMonitor>(new GroupLagMonitor(std::move(impl)));
}

Result<std::vector<std::string>> GroupLagMonitor::ListTopics(const std::string& prefix,
                                                             int timeout_ms) {
  FERRY_ASSIGN_OR_RETURN(auto topics, FetchTopics(impl_->rk.get(), timeout_ms));
  std::vector<std::string> out;
  for (const auto& [name, partitions] : topics) {
    // Internal topics ("__consumer_offsets", the dev broker's) only when asked for.
    bool internal = name.starts_with("__") && !prefix.starts_with("__");
    if (name.starts_with(prefix) && !internal) out.push_back(name);
  }
  return out;  // sorted: from a std::map
}

Result<std::vector<PartitionLag>> GroupLagMonitor::Query(const std::vector<std::string>& topics,
                                                         int timeout_ms) {
  Deadline deadline(timeout_ms);
  rd_kafka_t* rk = impl_->rk.get();
  // All-topics metadata: asking for a missing topic by name would create it.
  FERRY_ASSIGN_OR_RETURN(auto existing, impl_->PartitionCounts(topics, deadline.RemainingMs()));
  PartitionListPtr list(rd_kafka_topic_partition_list_new(0));
  for (const std::string& topic : topics) {
    auto it = existing.find(topic);
    if (it == existing.end()) continue;
    for (int32_t p = 0; p < it->second; ++p) {
      rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), p);
    }
  }
  std::vector<PartitionLag> out;
  if (list->cnt == 0) return out;
  rd_kafka_resp_err_t err = rd_kafka_committed(rk, list.get(), std::max(deadline.RemainingMs(), 1));
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return KafkaStatus(err, "reading the committed offsets of group " + impl_->group_id);
  }
  for (int i = 0; i < list->cnt; ++i) {
    const rd_kafka_topic_partition_t& e = list->elems[i];
    PartitionLag lag;
    lag.tp = {e.topic, e.partition};
    if (e.err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return KafkaStatus(e.err, "reading the committed offset of " + lag.tp.ToString());
    }
    lag.committed = e.offset >= 0 ? e.offset : -1;
    if (e.metadata != nullptr) lag.metadata.assign(static_cast<const char*>(e.metadata), e.metadata_size);
    FERRY_ASSIGN_OR_RETURN(Watermarks w, QueryWatermarks(rk, lag.tp, std::max(deadline.RemainingMs(), 1)));
    lag.log_start = w.low;
    lag.log_end = w.high;
    out.push_back(std::move(lag));
  }
  return out;
}

}  // namespace ferry::transport
