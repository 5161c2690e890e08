#include "apply/apply_runner.h"

#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <limits>
#include <map>
#include <memory>
#include <vector>

#include "apply/failure_reconciler.h"
#include "apply/unit_assembler.h"
#include "checkpoint/failure_requests.h"
#include "checkpoint/failure_store.h"
#include "common/ferry_metrics.h"
#include "common/lsn.h"
#include "common/signals.h"
#include "transport/cluster_info.h"
#include "transport/commit_metadata.h"
#include "transport/event_consumer.h"
#include "transport/naming.h"

namespace ferry::apply {

namespace {

using Clock = std::chrono::steady_clock;

// Messages taken from the consumer per poll.
constexpr size_t kPollMessages = 5000;
// How long a poll waits for more snapshot rows while their COPY is open.
constexpr int kCopyingPollWaitMs = 5;
// How often how far apply has read is reported while it is ahead of the position:
// often enough that capture, paused by flow control, resumes while apply writes
// what it read rather than after (at most 100 offset commits a second).
constexpr auto kReadReportEvery = std::chrono::milliseconds(10);
// A group of changes commits as soon as apply has read all there is, unless
// a poll of it brought at least kBusyPollMessages: the stream is pouring in (a
// backlog drains) and a commit now would carry a few hundred small
// transactions, each commit costing the target a WAL flush and apply a round
// of statements. Such a group stays open until it is kBusyLinger old (or
// reaches its limits), taking what arrives meanwhile. At 2,000 transactions a
// second a poll brings a few dozen messages, so a steady stream still commits
// at once.
constexpr size_t kBusyPollMessages = 256;
constexpr auto kBusyLinger = std::chrono::milliseconds(10);

int64_t NowUs() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// What apply's metrics read at scrape time, on the metrics server's thread;
// shared so that it outlives the Applier.
struct LagState {
  std::atomic<int64_t> events_behind{0};
  std::atomic<int64_t> last_commit_time_us{0};
  double Seconds() const {
    if (events_behind.load() == 0) return 0;
    int64_t last = last_commit_time_us.load();
    if (last == 0) return std::numeric_limits<double>::quiet_NaN();  // nothing applied yet: unknown
    return std::max(0.0, (NowUs() - last) / 1e6);
  }
};

// A message that is a ChangeEvent ferry can use (an OP_END, or a change of a table).
bool Usable(const ferry::v1::ChangeEvent& e) {
  if (e.op() == ferry::v1::OP_END) return true;
  return e.op() != ferry::v1::OP_UNSPECIFIED && !e.table().empty();
}

class Applier {
 public:
  Applier(const ApplyOptions& o, checkpoint::FailureStore& failures)
      : o_(o),
        tp_{transport::ChangesTopic(o.topic_prefix), 0},
        failures_(failures),
        units_(GroupLimits{o.batch_max_events, 32 << 20, std::chrono::milliseconds(200)}, o.failures,
               [this] { return Connect(); }, failures),
        assembler_(units_, o.max_buffered_unit_bytes),
        reconciler_(failures) {}

  Status Run() {
    // The target first: a configuration error there (a wrong password) ends
    // apply at once, before it waits for anything.
    FERRY_ASSIGN_OR_RETURN(ApplyPosition start, units_.Start(tp_));
    FERRY_RETURN_IF_ERROR(WaitForTopic());
    FERRY_ASSIGN_OR_RETURN(cluster_, transport::FetchClusterId(o_.kafka, 10000));
    units_.set_kafka_cluster(cluster_);
    assembler_.Reset(start);
    FERRY_ASSIGN_OR_RETURN(
        consumer_, transport::EventConsumer::Create(
                       o_.kafka, o_.group, tp_.topic,
                       [this](const TopicPartition& tp) { return OnAssigned(tp); },
                       [this](const std::vector<TopicPartition>&) { OnRevoked(); }));
    spdlog::info("applying topic {} as group '{}' to the target, from {}", tp_.topic, o_.group, start.ToString());
    metrics::DescribeApplyFamilies();
    metrics::Registry::Default().gauge_fn(metrics::kApplyLagSeconds, metrics::kApplyLagSecondsHelp, {},
                                          [lag = lag_] { return lag->Seconds(); });
    Status st;
    while (st.ok() && !StopRequested()) {
      st = PollOnce();
      if (st.ok() && !units_.busy()) st = Reconcile();
      metrics::ParkedEvents().Set(static_cast<double>(failures_.Count()));
      UpdateLagMetrics();
      Report();
    }
    units_.Stop();
    spdlog::info("conflicts: {}", stats_.Summary());
    // Leaving the group at once lets a standby (or the next start) take over
    // without waiting out the session timeout.
    Status closed = consumer_->Close();
    return st.ok() ? closed : st;
  }

 private:
  // Capture creates the topic with the one partition order needs; subscribing
  // first could have a broker that auto-creates topics make it with its defaults.
  Status WaitForTopic() {
    for (bool said = false; !StopRequested();) {
      Result<std::map<std::string, int>> topics = transport::ListTopics(o_.kafka, 10000);
      if (topics.ok()) {
        auto it = topics->find(tp_.topic);
        if (it != topics->end() && it->second > 0) {
          if (it->second > 1) {
            spdlog::warn("topic {} has {} partitions: capture writes only partition 0, which apply reads; "
                         "the others stay empty",
                         tp_.topic, it->second);
          }
          return Status::OK();
        }
      } else if (!topics.status().IsRetriable()) {
        return topics.status();
      }
      if (!said) {
        spdlog::info("waiting for topic {} ({}): ferry capture with --topic-prefix {} creates it",
                     tp_.topic, topics.ok() ? "not there yet" : topics.status().ToString(), o_.topic_prefix);
        said = true;
      }
      SleepUnlessStopped(std::chrono::milliseconds(200));  // a new pipeline starts at once
    }
    return Status::Aborted("stopped while waiting for topic " + tp_.topic);
  }

  Result<std::unique_ptr<TargetWriter>> Connect() {
    return TargetWriter::Connect(o_.target_conninfo, {.rule = o_.rule,
                                                      .log_conflicts = o_.log_conflicts,
                                                      .skip_truncate = o_.skip_truncate,
                                                      .create_tables = o_.create_tables,
                                                      .evolve_schema = o_.evolve_schema,
                                                      .target_triggers = o_.target_triggers,
                                                      .stats = &stats_,
                                                      .replication_origin =
                                                          transport::ReplicationOriginName(o_.topic_prefix)});
  }

  // Inside a rebalance: the partition starts right after what the target holds.
  Result<std::optional<int64_t>> OnAssigned(const TopicPartition& tp) {
    if (tp != tp_) return std::optional<int64_t>();
    FERRY_ASSIGN_OR_RETURN(ApplyPosition p, units_.Start(tp_));
    assembler_.Reset(p);
    assigned_ = true;
    committed_offset_ = reported_read_ = 0;
    if (p.offset >= 0 && !p.kafka_cluster.empty() && p.kafka_cluster != cluster_) {
      // Offsets of another cluster mean nothing here; commit LSNs still do.
      spdlog::warn("assigned {}: the target's position ({}) was recorded on Kafka cluster {}, this is {}: "
                   "reading the topic from its start, skipping what the target holds by commit LSN",
                   tp.ToString(), p.ToString(), p.kafka_cluster, cluster_);
      return std::optional<int64_t>();
    }
    spdlog::info("assigned {}: resuming after {}", tp.ToString(), p.ToString());
    return p.offset >= 0 ? std::optional<int64_t>(p.offset + 1) : std::nullopt;
  }

  // Inside a rebalance: another member may read the partition from now on.
  void OnRevoked() {
    units_.Stop();
    assembler_.Reset(units_.applied());
    assigned_ = false;
  }

  Status PollOnce() {
    // With a transaction open, an empty poll means "caught up": commit it now;
    // but a COPY of snapshot rows stays open while more come (a commit waits
    // for the target to finish them, and reads nothing meanwhile), up to the
    // group's limits, or until a poll finds nothing and nothing is left on the
    // partition: then the copy is done or waits on capture, and the rows
    // already sent commit at once rather than when the group's age is up.
    if (!units_.group_open()) lingering_ = false;
    int wait = units_.group_open() ? (units_.copying() ? kCopyingPollWaitMs : LingerLeftMs()) : o_.batch_wait_ms;
    Result<std::vector<transport::ConsumedMessage>> batch = consumer_->PollBatch(kPollMessages, wait);
    if (!batch.ok()) {
      if (!batch.status().IsRetriable()) return batch.status();
      spdlog::warn("{}; polling again", batch.status().ToString());
      return Status::OK();
    }
    // What was just read is in memory: capture's flow control may produce more
    // while this batch is applied, rather than after.
    int64_t read_upto = -1;
    for (const auto& m : *batch) {
      if (m.generation == consumer_->generation() && m.tp == tp_) read_upto = std::max(read_upto, m.offset + 1);
    }
    if (read_upto >= 0) CommitOffsets(read_upto);
    for (auto& m : *batch) {
      if (m.generation != consumer_->generation() || m.tp != tp_) continue;  // read under an older assignment
      FERRY_RETURN_IF_ERROR(Handle(m));
      FERRY_ASSIGN_OR_RETURN(bool rewound, Rewound());
      if (rewound) return Status::OK();
    }
    FERRY_RETURN_IF_ERROR(assembler_.Flush());
    FERRY_ASSIGN_OR_RETURN(bool rewound_at_flush, Rewound());
    if (rewound_at_flush) return Status::OK();
    if (!units_.copying() && batch->size() >= kBusyPollMessages) lingering_ = true;
    const bool caught_up = units_.copying() ? batch->empty() && consumer_->EventsBehind() == 0
                                            : batch->size() < kPollMessages && LingerLeftMs() == 0;
    if (units_.group_open() && (caught_up || units_.GroupDue())) {
      FERRY_RETURN_IF_ERROR(units_.CommitGroup());
      FERRY_ASSIGN_OR_RETURN(bool rewound_at_commit, Rewound());
      if (rewound_at_commit) return Status::OK();
    }
    CommitOffsets();
    return Status::OK();
  }

  Status Handle(transport::ConsumedMessage& m) {
    last_read_ = m.offset;
    ferry::v1::ChangeEvent e;
    if (!e.ParseFromString(m.value) || !Usable(e)) {
      Garbage g{m.tp, m.offset, std::move(m.value),
                "message at " + m.tp.ToString() + " offset " + std::to_string(m.offset) +
                    " is not a ferry ChangeEvent (" + std::to_string(m.value.size()) + " bytes)"};
      if (o_.failures.on_error == OnError::kStop) {
        return Status::Corruption(g.error + "; apply stopped before it (--on-error stop), nothing after it was "
                                  "applied");
      }
      spdlog::warn("parked {}", g.error);
      std::vector<checkpoint::ParkedEvent> records{GarbageRecord(g)};
      return failures_.Park(&records);
    }
    return assembler_.Add(std::move(e), m.offset, m.value.size());
  }

  // How long the open group still waits for more of a busy stream (kBusyLinger), in ms.
  int LingerLeftMs() const {
    if (!lingering_ || !units_.group_open()) return 0;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(kBusyLinger - units_.group_age());
    return static_cast<int>(std::max<int64_t>(0, left.count()));
  }

  // Whether the applier asked to read again from its position (and it was done).
  Result<bool> Rewound() {
    if (!units_.TakeRewind()) return false;
    const ApplyPosition& p = units_.applied();
    assembler_.Reset(p);
    const bool here = p.kafka_cluster.empty() || p.kafka_cluster == cluster_;
    FERRY_RETURN_IF_ERROR(consumer_->Seek(tp_, here && p.offset >= 0 ? p.offset + 1 : 0));
    return true;
  }

  // The group's offset follows the target's position, and the end of what was
  // read once nothing is in progress (replays, parked garbage), so that `ferry
  // lag` reaches zero. While units are held or streamed ahead of the position,
  // how far apply has read goes with it (read_offset), for capture's flow
  // control: without it a transaction larger than the flow-control bound could
  // never be read whole. `read_upto`: messages read (in memory) but not
  // handled yet also count as read.
  void CommitOffsets(int64_t read_upto = -1) {
    if (!assigned_) return;  // a commit from outside the group makes the member rejoin
    const ApplyPosition& p = units_.applied();
    int64_t next = std::max<int64_t>(p.offset + 1, 0);
    if (!units_.busy() && !assembler_.in_unit()) next = std::max(next, last_read_ + 1);
    const int64_t read = std::max(last_read_ + 1, read_upto);
    const auto now = Clock::now();
    const bool moved = next > committed_offset_;
    const bool read_on = read > next && read > reported_read_ && now - last_read_report_ >= kReadReportEvery;
    if (!moved && !read_on) return;
    if (p.offset > reported_position_.offset) {
      CountApplied(p);
      reported_position_ = p;
    }
    transport::CommitMetadata metadata;
    if (p.offset >= 0) metadata.applied = transport::AppliedPosition{p.commit_lsn, p.commit_time_us};
    if (read > next) {
      metadata.read_offset = read;
      reported_read_ = read;
      last_read_report_ = now;
    }
    consumer_->CommitOffsets({{tp_, next}}, {{tp_, transport::EncodeCommitMetadata(metadata)}})
        .PermitUncheckedError();  // the target is what apply resumes from
    committed_offset_ = next;
  }

  void CountApplied(const ApplyPosition& p) {
    lag_->last_commit_time_us = p.commit_time_us;
    metrics::ApplyLastCommitTimestamp().Set(p.commit_time_us / 1e6);
  }

  void UpdateLagMetrics() {
    int64_t behind = consumer_->EventsBehind();
    lag_->events_behind = behind;
    metrics::ApplyLagEvents().Set(static_cast<double>(behind));
  }

  // Answers `ferry failures` / `ferry reconcile` requests, and replays parked
  // units that are due, every reconcile_interval_ms.
  Status Reconcile() {
    FERRY_ASSIGN_OR_RETURN(auto requests, checkpoint::PendingFailureRequests(o_.state_dir));
    for (const auto& request : requests) {
      Result<std::string> outcome = Status::OK();
      Status st = units_.WithWriter([&](TargetWriter& w) {
        outcome = reconciler_.Execute(request.text, &w);
        return outcome.status();
      });
      spdlog::info("request '{}': {}", request.text, outcome.ok() ? *outcome : outcome.status().ToString());
      FERRY_RETURN_IF_ERROR(checkpoint::AnswerFailureRequest(o_.state_dir, request, outcome));
      if (!st.ok() && !IsEventError(st) && !st.IsNotFound()) return st;
    }
    auto now = Clock::now();
    if (failures_.Count() == 0 || now - last_reconcile_ < std::chrono::milliseconds(o_.reconcile_interval_ms)) {
      return Status::OK();
    }
    last_reconcile_ = now;
    Result<ReconcilePass> pass = Status::OK();
    FERRY_RETURN_IF_ERROR(units_.WithWriter([&](TargetWriter& w) {
      pass = reconciler_.Pass(w, /*due_only=*/true);
      return pass.status();
    }));
    if (pass->replayed > 0) spdlog::info("reconciler: {}", pass->ToString());
    return Status::OK();
  }

  void Report() {
    auto now = Clock::now();
    if (now - last_report_ < std::chrono::seconds(5)) return;
    double secs = std::chrono::duration<double>(now - last_report_).count();
    int64_t applied = units_.applied_events();
    if (applied != reported_events_) {
      const ApplyPosition& p = units_.applied();
      spdlog::info("applied {} events ({:.0f}/s); last commit LSN {}, {:.1f} s behind the source",
                   applied - reported_events_, (applied - reported_events_) / secs, p.commit_lsn.ToString(),
                   (NowUs() - p.commit_time_us) / 1e6);
    }
    const AssemblerCounts& c = assembler_.counts();
    int64_t dropped = c.replays + c.duplicates + c.stale;
    if (dropped != reported_dropped_) {
      spdlog::info("skipped {} events already applied or sent twice ({} replays, {} duplicates, {} stale), "
                   "{} unfinished units abandoned",
                   dropped - reported_dropped_, c.replays, c.duplicates, c.stale, c.abandoned);
      reported_dropped_ = dropped;
    }
    reported_events_ = applied;
    last_report_ = now;
    if (int64_t conflicts = stats_.Total(); conflicts != reported_conflicts_) {
      spdlog::info("conflicts: {}", stats_.Summary());
      reported_conflicts_ = conflicts;
    }
  }

  const ApplyOptions& o_;
  const TopicPartition tp_;
  checkpoint::FailureStore& failures_;
  ConflictStats stats_;
  UnitApplier units_;
  UnitAssembler assembler_;
  Reconciler reconciler_;
  std::unique_ptr<transport::EventConsumer> consumer_;
  std::string cluster_;  // the Kafka cluster's id
  bool assigned_ = false;
  bool lingering_ = false;  // the open group took a busy poll: it waits up to kBusyLinger
  int64_t last_read_ = -1;
  int64_t committed_offset_ = 0;
  int64_t reported_read_ = 0;
  Clock::time_point last_read_report_{};
  ApplyPosition reported_position_;
  int64_t reported_events_ = 0, reported_dropped_ = 0, reported_conflicts_ = 0;
  std::shared_ptr<LagState> lag_ = std::make_shared<LagState>();
  Clock::time_point last_report_ = Clock::now();
  Clock::time_point last_reconcile_ = Clock::now();
};

// `ferry failures` holds the store for a moment when apply is not running:
// wait for it rather than fail.
Result<std::unique_ptr<checkpoint::FailureStore>> OpenFailureStore(const std::string& state_dir) {
  for (int attempt = 0;; ++attempt) {
    auto store = checkpoint::FailureStore::Open(FailureStoreDir(state_dir));
    if (store.ok() || !store.status().IsRetriable() || attempt >= 20 || StopRequested()) {
      return store;
    }
    SleepUnlessStopped(std::chrono::milliseconds(500));
  }
}

}  // namespace

std::string FailureStoreDir(const std::string& state_dir) { return state_dir + "/failures"; }

Result<ConflictRule> ParseConflictRule(const std::string& text) {
  if (text == "replace") return ConflictRule::kReplace;
  if (text == "none") return ConflictRule::kNone;
  if (text == "merge") return ConflictRule::kMerge;
  return Status::InvalidArgument("--conflict must be none, replace or merge, not '" + text + "'");
}

Status RunApply(const ApplyOptions& o) {
  FERRY_ASSIGN_OR_RETURN(auto failures, OpenFailureStore(o.state_dir));
  checkpoint::RemoveStaleFailureAnswers(o.state_dir);
  if (failures->Count() > 0) {
    spdlog::warn("{} events are parked in {} (ferry failures list)", failures->Count(), failures->dir());
  }
  Applier applier(o, *failures);
  return applier.Run();
}

}  // namespace ferry::apply
