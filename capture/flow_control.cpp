#include "capture/flow_control.h"

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "common/ferry_metrics.h"

namespace ferry::capture {

namespace {

using Clock = std::chrono::steady_clock;
constexpr int kKafkaTimeoutMs = 5000;
// While paused in auto mode, a group that starts consuming is looked for this often.
constexpr auto kRediscoverWhilePaused = std::chrono::seconds(2);

std::string Size(int64_t b) {
  if (b < (1 << 20)) return fmt::format("{} KiB", b / 1024);
  return fmt::format("{:.1f} MiB", b / 1048576.0);
}

int64_t UnixUs(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
}

std::string IsoTime(std::chrono::system_clock::time_point t) {
  auto secs = std::chrono::system_clock::to_time_t(t);
  return fmt::format("{:%Y-%m-%dT%H:%M:%S}Z", fmt::gmtime(secs));
}

std::string Quoted(const std::set<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "'" : ", '") + n + "'";
  return out;
}

}  // namespace

FlowControl::FlowControl(const transport::KafkaOptions& kafka, FlowControlOptions options,
                         std::unique_ptr<transport::ConsumerGroupFinder> finder,
                         StatusPublisher* status)
    : kafka_(kafka), options_(std::move(options)), finder_(std::move(finder)), status_(status) {
  can_discover_ = options_.can_list_groups;
}

FlowControl::~FlowControl() = default;

Result<std::unique_ptr<FlowControl>> FlowControl::Create(const transport::KafkaOptions& kafka,
                                                         FlowControlOptions options,
                                                         StatusPublisher* status) {
  if (options.max_partition_bytes <= 0) {
    return Status::InvalidArgument("--flow-control-max-bytes must be positive");
  }
  FERRY_ASSIGN_OR_RETURN(auto finder, transport::ConsumerGroupFinder::Create(kafka));
  std::unique_ptr<FlowControl> flow(new FlowControl(kafka, std::move(options), std::move(finder), status));
  flow->Publish();  // running, with flow control
  return flow;
}

void FlowControl::OnProduced(const std::string& topic, size_t bytes) {
  if (topics_.insert(topic).second) last_check_ = {};  // a new topic: look at once
  produced_[topic].Add(static_cast<int64_t>(bytes));
  bytes_since_check_ += static_cast<int64_t>(bytes);
}

// Near the bound (what was there at the last look plus what was produced
// since, all as if in one partition) or paused, look often: the bound is hit
// soon, or apply may have made room.
bool FlowControl::CheckDue(Clock::time_point now) const {
  if (last_check_ == Clock::time_point{}) return true;
  auto since = now - last_check_;
  if (since >= options_.check_interval) return true;
  bool near = state_.paused || last_worst_bytes_ + bytes_since_check_ > options_.max_partition_bytes / 2;
  return near && since >= options_.fast_check_interval;
}

Result<bool> FlowControl::ShouldPause() {
  if (topics_.empty()) return state_.paused;
  auto now = Clock::now();
  bool over = !state_.paused && last_worst_bytes_ + bytes_since_check_ > options_.max_partition_bytes;
  if (!CheckDue(now) && !over) return state_.paused;
  last_check_ = now;
  bytes_since_check_ = 0;
  MaybeDiscover(now);
  FERRY_ASSIGN_OR_RETURN(Backlog worst, Worst());
  last_worst_bytes_ = worst.bytes;
  Transition(worst);
  return state_.paused;
}

void FlowControl::MaybeDiscover(Clock::time_point now) {
  bool paused_auto = state_.paused && options_.groups.empty();
  bool due = last_discover_ == Clock::time_point{} || now - last_discover_ >= options_.discover_interval ||
             (paused_auto && now - last_discover_ >= kRediscoverWhilePaused);
  if (!due) return;
  last_discover_ = now;
  auto found = can_discover_ ? finder_->FindConsuming({topics_.begin(), topics_.end()}, kKafkaTimeoutMs)
                             : Result<std::optional<transport::ConsumingGroups>>(std::nullopt);
  if (!found.ok()) {
    std::vector<std::string> followed = Followed();
    spdlog::warn("flow control: could not ask Kafka which consumer groups read {} ({}); following {} meanwhile",
                 TopicsText(), found.status().ToString(), Quoted({followed.begin(), followed.end()}));
    return;
  }
  if (!found->has_value()) {
    can_discover_ = false;
    if (options_.groups.empty() && !said_no_discovery_) {
      spdlog::info("flow control follows consumer group '{}' (apply's default --group): this Kafka (the dev "
                   "broker) cannot list consumer groups, so capture cannot find apply's group by itself; if "
                   "apply runs with another --group, give capture the same --flow-control-group",
                   options_.fallback_group);
    }
    said_no_discovery_ = true;
    return;
  }
  const transport::ConsumingGroups& groups = **found;
  if (!options_.groups.empty()) {
    std::set<std::string> given(options_.groups.begin(), options_.groups.end());
    bool any = std::any_of(given.begin(), given.end(), [&](const auto& g) { return groups.consuming.contains(g); });
    if (!any && !groups.consuming.empty()) {
      spdlog::warn("flow control follows {} (--flow-control-group), but the groups reading {} are {}: is apply "
                   "running with another --group? Restart capture with --flow-control-group set to it",
                   Quoted(given), TopicsText(), Quoted(groups.consuming));
    }
    return;
  }
  for (auto it = followed_.begin(); it != followed_.end();) {
    if (groups.existing.contains(*it)) {
      ++it;
      continue;
    }
    spdlog::info("flow control: no longer following consumer group '{}': Kafka no longer has it", *it);
    monitors_.erase(*it);
    it = followed_.erase(it);
  }
  Follow(groups.consuming, "a member reads " + TopicsText());
}

void FlowControl::Follow(const std::set<std::string>& groups, const std::string& why) {
  for (const auto& g : groups) {
    if (followed_.insert(g).second) spdlog::info("flow control: following consumer group '{}' ({})", g, why);
  }
}

std::vector<std::string> FlowControl::Followed() const {
  if (!options_.groups.empty()) return options_.groups;
  if (!followed_.empty()) return {followed_.begin(), followed_.end()};
  return {options_.fallback_group};
}

Result<FlowControl::Backlog> FlowControl::Worst() {
  std::vector<std::string> topics(topics_.begin(), topics_.end());
  // Messages Kafka has not acknowledged yet are in no offset, and they are the
  // newest produced: the group has not read the newest unread + unacknowledged
  // (exact with the one changes topic; an overestimate with several).
  int64_t unacknowledged = options_.in_flight ? std::max<int64_t>(0, options_.in_flight()) : 0;
  std::optional<Backlog> worst;
  for (const std::string& group : Followed()) {
    auto& monitor = monitors_[group];
    if (!monitor) {
      FERRY_ASSIGN_OR_RETURN(monitor, transport::GroupLagMonitor::Create(kafka_, group));
    }
    FERRY_ASSIGN_OR_RETURN(auto lags, monitor->Query(topics, kKafkaTimeoutMs));
    bool committed = std::any_of(lags.begin(), lags.end(), [](const auto& l) { return l.committed >= 0; });
    for (const auto& l : lags) {
      auto tail = produced_.find(l.tp.topic);
      int64_t bytes =
          tail == produced_.end() ? 0 : tail->second.LastBytes(std::max<int64_t>(0, l.unread()) + unacknowledged);
      if (!worst || bytes > worst->bytes) worst = Backlog{group, l.tp, bytes, !committed};
    }
    if (!worst) worst = Backlog{group, {}, 0, !committed};
  }
  return *worst;
}

void FlowControl::Transition(const Backlog& worst) {
  bool was = state_.paused;
  bool pause = was ? worst.bytes > options_.max_partition_bytes / 2 : worst.bytes > options_.max_partition_bytes;
  state_.group = worst.group;
  state_.partition = worst.partition;
  state_.behind_bytes = worst.bytes;
  state_.never_committed = worst.never_committed;
  if (pause && !was) {
    state_.paused = true;
    state_.since = std::chrono::system_clock::now();
    spdlog::info("flow control: pausing the slot: consumer group '{}' is ~{} behind on {} (bound {})", worst.group,
                 Size(worst.bytes), worst.partition.ToString(), Size(options_.max_partition_bytes));
    if (worst.never_committed && explained_.insert(worst.group).second) {
      spdlog::warn("flow control: {}", Problem());
    }
    Publish();
  } else if (!pause && was) {
    auto paused_for = std::chrono::system_clock::now() - state_.since;
    state_.paused = false;
    spdlog::info("flow control: resuming after {:.1f} s paused: consumer group '{}' is down to ~{} behind on {}",
                 std::chrono::duration<double>(paused_for).count(), worst.group, Size(worst.bytes),
                 worst.partition.ToString());
    Publish();
  } else if (pause && status_ != nullptr) {
    status_->PublishIfDue();  // a pause is refreshed, so `ferry lag` sees it is current
  }
  metrics::FlowControlPaused().Set(state_.paused ? 1 : 0);
  metrics::FlowControlPausedSince().Set(state_.paused ? UnixUs(state_.since) / 1e6 : 0);
  metrics::FlowControlBacklogBytes().Set(static_cast<double>(worst.bytes));
}

std::string FlowControl::Problem() const {
  if (!state_.never_committed) return "";
  return "consumer group '" + state_.group + "' has not committed an offset on any partition of " + TopicsText() +
         ": no apply consumes as '" + state_.group + "' yet, and capture stays paused (the source's WAL keeps "
         "the backlog) until it does. If apply runs with another --group, restart capture with "
         "--flow-control-group set to that group";
}

void FlowControl::Publish() {
  if (status_ == nullptr) return;
  transport::CaptureStatus& s = status_->record();
  s.flow_control = true;
  s.paused = state_.paused;
  s.since_us = state_.paused ? UnixUs(state_.since) : 0;
  s.group = state_.group;
  s.partition = state_.partition.topic.empty() ? "" : state_.partition.ToString();
  s.behind_bytes = state_.behind_bytes;
  s.bound_bytes = options_.max_partition_bytes;
  s.problem = Problem();
  status_->Publish();
}

std::string FlowControl::Describe() const {
  if (!state_.paused) return "";
  double seconds = std::chrono::duration<double>(std::chrono::system_clock::now() - state_.since).count();
  return fmt::format("paused by flow control for {:.0f} s (since {}): consumer group '{}' is ~{} behind on {} "
                     "(bound {}){}",
                     seconds, IsoTime(state_.since), state_.group, Size(state_.behind_bytes),
                     state_.partition.ToString(), Size(options_.max_partition_bytes),
                     state_.never_committed ? "; it has committed nothing yet, see the warning above" : "");
}

std::string FlowControl::TopicsText() const {
  std::string out;
  int shown = 0;
  for (const auto& t : topics_) {
    if (shown == 3) return out + " and " + std::to_string(topics_.size() - 3) + " more topics";
    out += (shown++ ? ", " : "") + t;
  }
  return out;
}

}  // namespace ferry::capture
