#include "transport/group_discovery.h"

#include <algorithm>

#include "transport/rdkafka_util.h"

namespace ferry::transport {

namespace {

constexpr size_t kDescribeBatch = 100;  // groups per DescribeGroups round

bool Unsupported(const rd_kafka_error_t* error) {
  return error != nullptr && rd_kafka_error_code(error) == RD_KAFKA_RESP_ERR__UNSUPPORTED_FEATURE;
}

}  // namespace

struct ConsumerGroupFinder::Impl {
  Result<std::optional<std::set<std::string>>> List(const Deadline& deadline);
  Result<std::optional<std::set<std::string>>> Consuming(const std::vector<std::string>& groups,
                                                         const std::set<std::string>& topics,
                                                         const Deadline& deadline);

  std::string brokers;
  KafkaPtr rk;
};

Result<std::optional<std::set<std::string>>> ConsumerGroupFinder::Impl::List(const Deadline& deadline) {
  FERRY_ASSIGN_OR_RETURN(EventPtr ev, AdminRequest(rk.get(), RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPS, deadline,
                                              "listing consumer groups",
                                              [this](rd_kafka_AdminOptions_t* o, rd_kafka_queue_t* q) {
                                                rd_kafka_ListConsumerGroups(rk.get(), o, q);
                                              }));
  const rd_kafka_ListConsumerGroups_result_t* result = rd_kafka_event_ListConsumerGroups_result(ev.get());
  size_t n_errors = 0;
  const rd_kafka_error_t** errors = rd_kafka_ListConsumerGroups_result_errors(result, &n_errors);
  for (size_t i = 0; i < n_errors; ++i) {
    if (Unsupported(errors[i])) return std::optional<std::set<std::string>>();
  }
  if (n_errors > 0) {
    // Some broker did not answer: the list may miss groups.
    return Status::Unavailable(std::string("listing consumer groups: ") + rd_kafka_error_string(errors[0]));
  }
  size_t n = 0;
  const rd_kafka_ConsumerGroupListing_t** listed = rd_kafka_ListConsumerGroups_result_valid(result, &n);
  std::set<std::string> groups;
  for (size_t i = 0; i < n; ++i) {
    if (rd_kafka_ConsumerGroupListing_state(listed[i]) == RD_KAFKA_CONSUMER_GROUP_STATE_DEAD) continue;
    groups.insert(rd_kafka_ConsumerGroupListing_group_id(listed[i]));
  }
  return std::optional<std::set<std::string>>(std::move(groups));
}

Result<std::optional<std::set<std::string>>> ConsumerGroupFinder::Impl::Consuming(
    const std::vector<std::string>& groups, const std::set<std::string>& topics, const Deadline& deadline) {
  std::vector<const char*> names;
  for (const auto& g : groups) names.push_back(g.c_str());
  FERRY_ASSIGN_OR_RETURN(EventPtr ev, AdminRequest(rk.get(), RD_KAFKA_ADMIN_OP_DESCRIBECONSUMERGROUPS, deadline,
                                              "describing consumer groups",
                                              [&](rd_kafka_AdminOptions_t* o, rd_kafka_queue_t* q) {
                                                rd_kafka_DescribeConsumerGroups(rk.get(), names.data(),
                                                                                names.size(), o, q);
                                              }));
  size_t n = 0;
  const rd_kafka_ConsumerGroupDescription_t** described = rd_kafka_DescribeConsumerGroups_result_groups(
      rd_kafka_event_DescribeConsumerGroups_result(ev.get()), &n);
  std::set<std::string> consuming;
  for (size_t i = 0; i < n; ++i) {
    const rd_kafka_ConsumerGroupDescription_t* g = described[i];
    const rd_kafka_error_t* error = rd_kafka_ConsumerGroupDescription_error(g);
    if (Unsupported(error)) return std::optional<std::set<std::string>>();
    if (error != nullptr) continue;  // a group that vanished meanwhile
    for (size_t m = 0; m < rd_kafka_ConsumerGroupDescription_member_count(g); ++m) {
      const rd_kafka_MemberAssignment_t* a =
          rd_kafka_MemberDescription_assignment(rd_kafka_ConsumerGroupDescription_member(g, m));
      const rd_kafka_topic_partition_list_t* parts = a ? rd_kafka_MemberAssignment_partitions(a) : nullptr;
      for (int p = 0; parts != nullptr && p < parts->cnt; ++p) {
        if (topics.contains(parts->elems[p].topic)) consuming.insert(rd_kafka_ConsumerGroupDescription_group_id(g));
      }
    }
  }
  return std::optional<std::set<std::string>>(std::move(consuming));
}

ConsumerGroupFinder::ConsumerGroupFinder(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ConsumerGroupFinder::~ConsumerGroupFinder() = default;

Result<std::unique_ptr<ConsumerGroupFinder>> ConsumerGroupFinder::Create(const KafkaOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->brokers = options.brokers;
  FERRY_ASSIGN_OR_RETURN(ConfPtr conf, MakeConf(options, {}));
  FERRY_ASSIGN_OR_RETURN(impl->rk, NewClient(RD_KAFKA_PRODUCER, std::move(conf)));
  return std::unique_ptr<ConsumerGroupFinder>(new ConsumerGroupFinder(std::move(impl)));
}

Result<std::optional<ConsumingGroups>> ConsumerGroupFinder::FindConsuming(const std::vector<std::string>& topics,
                                                                          int timeout_ms) {
  Deadline deadline(timeout_ms);
  FERRY_ASSIGN_OR_RETURN(auto listed, impl_->List(deadline));
  if (!listed) return std::optional<ConsumingGroups>();
  ConsumingGroups out;
  out.existing = *listed;
  std::set<std::string> wanted(topics.begin(), topics.end());
  std::vector<std::string> all(listed->begin(), listed->end());
  for (size_t i = 0; i < all.size(); i += kDescribeBatch) {
    std::vector<std::string> batch(all.begin() + i, all.begin() + std::min(all.size(), i + kDescribeBatch));
    FERRY_ASSIGN_OR_RETURN(auto consuming, impl_->Consuming(batch, wanted, deadline));
    if (!consuming) return std::optional<ConsumingGroups>();
    out.consuming.insert(consuming->begin(), consuming->end());
  }
  return std::optional<ConsumingGroups>(std::move(out));
}

}  // namespace ferry::transport
