// FlowControl: pauses reading the slot while a consumer group that reads
// capture's topics is too far behind.
//
// Against a broker that silently evicts old messages (the dev broker keeps
// about 5 MiB per partition), a backlog in Kafka is a backlog that can be lost.
// Pausing capture leaves the backlog in the source's WAL instead, which keeps
// it safely. The estimate per partition is the size of the newest messages
// this capture produced, as many as the group has not read (produced_tail.h),
// where the group has
// read up to the later of its committed offset and the read_offset apply
// reports in the commit metadata (transport/commit_metadata.h), plus the
// messages handed to the producer that Kafka has not acknowledged yet: no
// offset shows them, but they land on the partition soon (with 1 MB rows the
// producer's queue alone holds many times the dev broker's retention). Between
// two looks at Kafka, what was produced since counts too: once the estimate
// passes the bound, capture looks at once rather than at the next tick.
//
// Which groups: those given (--flow-control-group), else every group with a
// member assigned one of capture's topics, asked of the cluster
// (transport/group_discovery.h) and followed from then on, also while it has
// no members (apply stopped). Until one is found, and on a cluster that cannot
// list groups (the dev broker), `fallback_group` (apply's default --group).
// A pause caused by a group that has never committed an offset on capture's
// topics is explained once, loudly: no apply consumes as that group yet, and
// the fix if apply runs under another name.
//
// Cadence: far below the bound, Kafka is asked once per check_interval (or
// sooner once enough was produced to approach the bound); while paused or near
// the bound, every fast_check_interval, so a fast apply is not held back.
// A check costs one offset fetch and one list-offsets request per partition.
//
// The state (paused, since when, which group, how far behind) is logged, set
// on the ferry_capture_flow_control_* metrics and written to the capture
// status topic for `ferry lag` (capture/status_publisher.h).
//
// Thread-safety: one thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "capture/produced_tail.h"
#include "capture/status_publisher.h"
#include "common/status.h"
#include "common/topic_partition.h"
#include "transport/group_discovery.h"
#include "transport/group_lag.h"

namespace ferry::capture {

struct FlowControlOptions {
  // Groups to follow; empty: the groups consuming capture's topics (above).
  std::vector<std::string> groups;
  std::string fallback_group = "ferry-apply";
  int64_t max_partition_bytes = 2 << 20;  // pause above this estimated backlog per partition
  std::chrono::milliseconds check_interval{1000};
  std::chrono::milliseconds fast_check_interval{10};
  std::chrono::milliseconds discover_interval{30000};  // asking the cluster which groups consume
  // Whether the cluster can list consumer groups; the dev broker cannot (and
  // librdkafka 2.0.2 leaks memory on every refused attempt), so it is never asked.
  bool can_list_groups = true;
  // Messages produced and not yet acknowledged by Kafka (EventProducer::InFlight),
  // counted as backlog; null: none counted.
  std::function<int64_t()> in_flight;
};

// Why capture waits, for logs, metrics and `ferry lag`.
struct FlowControlState {
  bool paused = false;
  std::chrono::system_clock::time_point since{};  // when the current pause began
  std::string group;                              // the group furthest behind
  TopicPartition partition;                       // where
  int64_t behind_bytes = 0;                       // estimated, at the last check
  bool never_committed = false;  // `group` has no committed offset on any partition of capture's topics
};

class FlowControl {
 public:
  // Creates its Kafka clients; `status` (may be null; REQUIRES: outlives the
  // FlowControl) receives the state.
  static Result<std::unique_ptr<FlowControl>> Create(const transport::KafkaOptions& kafka,
                                                     FlowControlOptions options, StatusPublisher* status);
  ~FlowControl();

  void OnProduced(const std::string& topic, size_t bytes);
  // Replaces FlowControlOptions::in_flight (a second producer for a while).
  void set_in_flight(std::function<int64_t()> in_flight) { options_.in_flight = std::move(in_flight); }
  const std::function<int64_t()>& in_flight() const { return options_.in_flight; }
  // True while capture should not read more from the slot; resumes below half
  // the bound (hysteresis). Queries Kafka only when a check is due (above).
  Result<bool> ShouldPause();
  const FlowControlState& state() const { return state_; }
  // "" while running; else one line for capture's log: which group, how far
  // behind, since when.
  std::string Describe() const;

 private:
  struct Backlog {
    std::string group;
    TopicPartition partition;
    int64_t bytes = 0;
    bool never_committed = false;
  };
  FlowControl(const transport::KafkaOptions& kafka, FlowControlOptions options,
              std::unique_ptr<transport::ConsumerGroupFinder> finder,
              StatusPublisher* status);

  bool CheckDue(std::chrono::steady_clock::time_point now) const;
  void MaybeDiscover(std::chrono::steady_clock::time_point now);
  void Follow(const std::set<std::string>& groups, const std::string& why);
  std::vector<std::string> Followed() const;
  Result<Backlog> Worst();
  void Transition(const Backlog& worst);
  void Publish();
  std::string Problem() const;
  std::string TopicsText() const;

  transport::KafkaOptions kafka_;
  FlowControlOptions options_;
  std::unique_ptr<transport::ConsumerGroupFinder> finder_;
  StatusPublisher* status_;
  std::map<std::string, std::unique_ptr<transport::GroupLagMonitor>> monitors_;  // by group
  std::set<std::string> topics_;
  std::set<std::string> followed_;  // discovered groups (auto mode)
  bool can_discover_ = true;
  bool said_no_discovery_ = false;
  std::set<std::string> explained_;  // groups whose "never committed" pause was explained
  std::chrono::steady_clock::time_point last_discover_{};
  std::chrono::steady_clock::time_point last_check_{};
  std::map<std::string, ProducedTail> produced_;  // by topic
  int64_t bytes_since_check_ = 0;
  int64_t last_worst_bytes_ = 0;
  FlowControlState state_;
};

}  // namespace ferry::capture
