#include "apply/apply_runner.h"

#include "apply/failure_reconciler.h"
#include "apply/replay_guard.h"

#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <limits>
#include <memory>
#include <cstdlib>
#include <map>
#include <vector>

#include "checkpoint/failure_requests.h"
#include "checkpoint/failure_store.h"
#include "checkpoint/position_store.h"
#include "common/ferry_metrics.h"
#include "common/lsn.h"
#include "common/signals.h"
#include "transport/commit_metadata.h"
#include "transport/event_consumer.h"

namespace ferry::apply {

namespace {

using Clock = std::chrono::steady_clock;

struct Decoded {
  std::vector<ReplayGuard::Item> items;
  std::vector<Garbage> garbage;  // messages that are not ChangeEvents
};

Decoded Decode(const std::vector<transport::ConsumedMessage>& batch) {
  Decoded out;
  out.items.reserve(batch.size());
  for (const auto& m : batch) {
    ferry::v1::ChangeEvent e;
    if (!e.ParseFromString(m.value) || e.table().empty() || e.op() == ferry::v1::OP_UNSPECIFIED) {
      out.garbage.push_back({{m.tp, m.offset}, m.value,
                             "message at " + m.tp.ToString() + " offset " + std::to_string(m.offset) +
                                 " is not a ferry ChangeEvent (" + std::to_string(m.value.size()) +
                                 " bytes)"});
      continue;
    }
    out.items.push_back({m.tp, m.offset, std::move(e)});
  }
  return out;
}

// The last transaction of each partition in a batch, for the commit metadata
// `ferry lag` reads (transport/commit_metadata.h).
std::map<TopicPartition, transport::AppliedPosition> LastPositions(
    const std::vector<ferry::v1::ChangeEvent>& events, const std::vector<MessageOrigin>& origins) {
  std::map<TopicPartition, transport::AppliedPosition> out;
  for (size_t i = 0; i < events.size(); ++i) {
    transport::AppliedPosition& p = out[origins[i].tp];
    if (Lsn(events[i].commit_lsn()) >= p.lsn) p = {Lsn(events[i].commit_lsn()), events[i].commit_time_us()};
  }
  return out;
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
    int64_t now_us = std::chrono::duration_cast<std::chrono::microseconds>(
                         std::chrono::system_clock::now().time_since_epoch()).count();
    return std::max(0.0, (now_us - last) / 1e6);
  }
};

class Applier {
 public:
  Applier(const ApplyOptions& o, checkpoint::PositionStore& store,
          checkpoint::FailureStore& failures)
      : o_(o),
        store_(store),
        guard_(store, [this](const TopicPartition& tp) { return AppliedOnTarget(tp); }),
        events_(o.failures, failures),
        reconciler_(failures),
        failures_(failures) {}

  Status Run() {
    FERRY_RETURN_IF_ERROR(ConnectTarget());
    FERRY_ASSIGN_OR_RETURN(
        consumer_, transport::EventConsumer::Create(
                       o_.kafka, o_.group, TopicRegex(o_.topic_prefix),
                       [this](const TopicPartition& tp) { return store_.GetOffset(tp); }));
    spdlog::info("applying topics {} as group '{}' to the target", TopicRegex(o_.topic_prefix), o_.group);
    metrics::DescribeApplyFamilies();
    metrics::Registry::Default().gauge_fn(metrics::kApplyLagSeconds, metrics::kApplyLagSecondsHelp, {},
                                          [lag = lag_] { return lag->Seconds(); });
    while (!StopRequested()) {
      FERRY_ASSIGN_OR_RETURN(auto batch, consumer_->PollBatch(o_.batch_max_events, o_.batch_wait_ms));
      if (!batch.empty()) FERRY_RETURN_IF_ERROR(ApplyOne(batch));
      FERRY_RETURN_IF_ERROR(Reconcile());
      metrics::ParkedEvents().Set(static_cast<double>(failures_.Count()));
      UpdateLagMetrics();
      Report();
    }
    spdlog::info("conflicts: {}", stats_.Summary());
    return consumer_->Close();
  }

 private:
  Status ConnectTarget() {
    for (int attempt = 0;; ++attempt) {
      auto w = TargetWriter::Connect(o_.target_conninfo,
                                     {o_.rule, o_.log_conflicts, o_.skip_truncate,
                                      o_.create_tables, o_.evolve_schema, &stats_});
      if (w.ok()) {
        writer_ = std::move(w).value();
        return Status::OK();
      }
      if (!w.status().IsRetriable() || StopRequested()) return w.status();
      spdlog::warn("{}; retrying", w.status().ToString());
      SleepUnlessStopped(Backoff(attempt));
    }
  }

  // Runs `step` on the writer, reconnecting and running it again while the
  // target is unreachable.
  template <typename Step>
  Status WithTarget(Step step) {
    for (int attempt = 0;; ++attempt) {
      Status st = step(*writer_);
      if (!st.IsRetriable() || StopRequested()) return st;
      // Nothing uncommitted survives: reconnect and run the same step again.
      spdlog::warn("{}; reconnecting to the target", st.ToString());
      SleepUnlessStopped(Backoff(attempt));
      FERRY_RETURN_IF_ERROR(ConnectTarget());
    }
  }

  Status ApplyOne(const std::vector<transport::ConsumedMessage>& batch) {
    Decoded decoded = Decode(batch);
    // Parked (synced) before the position moves past them.
    FERRY_RETURN_IF_ERROR(events_.ParkGarbage(decoded.garbage));
    FERRY_ASSIGN_OR_RETURN(auto filtered, guard_.Filter(std::move(decoded.items)));
    for (const auto& g : decoded.garbage) FERRY_RETURN_IF_ERROR(guard_.PassOver(g.origin, &filtered));
    if (filtered.replays > 0) {
      spdlog::info("skipped {} events already applied (resent by capture or retried by the broker)",
                   filtered.replays);
    }
    const auto& events = filtered.events;
    std::vector<AppliedPosition> positions;
    for (const auto& [tp, time] : filtered.commit_time_us) {
      positions.push_back({tp, filtered.progress[tp].last_applied, time});
    }
    int64_t parked_before = events_.parked();
    bool first_attempt = true;
    FERRY_RETURN_IF_ERROR(WithTarget([&](TargetWriter& w) -> Status {
      // After a lost connection the batch may or may not have committed: the
      // target's recorded position says which.
      if (!first_attempt) {
        FERRY_ASSIGN_OR_RETURN(bool committed, CommittedOnTarget(positions));
        if (committed) return Status::OK();
      }
      first_attempt = false;
      return events_.Apply(w, events, filtered.origins, positions);
    }));
    // Fault injection for tests: die in the window where only the target has the batch.
    if (!events.empty() && std::getenv("FERRY_FAULT_EXIT_AFTER_TARGET_COMMIT") != nullptr) {
      spdlog::warn("FERRY_FAULT_EXIT_AFTER_TARGET_COMMIT: exiting before recording the batch");
      std::_Exit(9);
    }
    FERRY_RETURN_IF_ERROR(store_.PutProgress(filtered.progress));
    guard_.Commit(filtered.progress);
    std::map<TopicPartition, int64_t> next;
    for (const auto& [tp, p] : filtered.progress) next[tp] = p.next_offset;
    consumer_->CommitOffsets(next, CommitMetadata(next, LastPositions(events, filtered.origins)))
        .PermitUncheckedError();  // RocksDB is what we resume from
    if (events.empty()) return Status::OK();
    CountApplied(events);
    applied_ += static_cast<int64_t>(events.size()) - (events_.parked() - parked_before);
    last_lsn_ = Lsn(events.back().commit_lsn());
    last_commit_time_us_ = events.back().commit_time_us();
    return Status::OK();
  }

  // Keeps each partition's latest applied position and encodes it for every
  // partition committed: a commit without metadata would erase what `ferry
  // lag` reads (a batch of replays or garbage moves the offset, not the position).
  std::map<TopicPartition, std::string> CommitMetadata(
      const std::map<TopicPartition, int64_t>& committed,
      const std::map<TopicPartition, transport::AppliedPosition>& batch_positions) {
    for (const auto& [tp, p] : batch_positions) {
      transport::AppliedPosition& kept = positions_[tp];
      if (p.lsn >= kept.lsn) kept = p;
    }
    std::map<TopicPartition, std::string> out;
    for (const auto& [tp, offset] : committed) {
      auto it = positions_.find(tp);
      if (it != positions_.end()) out[tp] = transport::EncodeAppliedPosition(it->second);
    }
    return out;
  }

  void CountApplied(const std::vector<ferry::v1::ChangeEvent>& events) {
    for (const auto& e : events) {
      std::string table = e.schema() + "." + e.table();
      auto it = applied_counters_.find(table);
      if (it == applied_counters_.end()) {
        it = applied_counters_.emplace(table, &metrics::AppliedEvents(table)).first;
      }
      it->second->Increment();
    }
    lag_->last_commit_time_us = events.back().commit_time_us();
    metrics::ApplyLastCommitTimestamp().Set(events.back().commit_time_us() / 1e6);
  }

  void UpdateLagMetrics() {
    int64_t behind = consumer_->EventsBehind();
    lag_->events_behind = behind;
    metrics::ApplyLagEvents().Set(static_cast<double>(behind));
  }

  // The position the target committed for `tp`, reconnecting while it is unreachable.
  Result<std::optional<checkpoint::EventPosition>> AppliedOnTarget(const TopicPartition& tp) {
    for (int attempt = 0;; ++attempt) {
      auto r = writer_->AppliedOnTarget(tp);
      if (r.ok() || !r.status().IsRetriable() || StopRequested()) return r;
      spdlog::warn("{}; reconnecting to the target", r.status().ToString());
      SleepUnlessStopped(Backoff(attempt));
      FERRY_RETURN_IF_ERROR(ConnectTarget());
    }
  }

  Result<bool> CommittedOnTarget(const std::vector<AppliedPosition>& positions) {
    for (const auto& p : positions) {
      FERRY_ASSIGN_OR_RETURN(auto on_target, AppliedOnTarget(p.tp));
      if (!on_target || *on_target < p.position) return false;
    }
    return !positions.empty();
  }

  // Answers `ferry failures` / `ferry reconcile` requests, and replays parked
  // events that are due, every reconcile_interval_ms.
  Status Reconcile() {
    FERRY_ASSIGN_OR_RETURN(auto requests, checkpoint::PendingFailureRequests(o_.state_dir));
    for (const auto& request : requests) {
      Result<std::string> outcome = Status::OK();
      Status st = WithTarget([&](TargetWriter& w) {
        outcome = reconciler_.Execute(request.text, &w);
        return outcome.status();
      });
      spdlog::info("request '{}': {}", request.text,
                   outcome.ok() ? *outcome : outcome.status().ToString());
      FERRY_RETURN_IF_ERROR(checkpoint::AnswerFailureRequest(o_.state_dir, request, outcome));
      if (!st.ok() && !IsEventError(st) && !st.IsNotFound()) return st;
    }
    auto now = Clock::now();
    if (failures_.Count() == 0 ||
        now - last_reconcile_ < std::chrono::milliseconds(o_.reconcile_interval_ms)) {
      return Status::OK();
    }
    last_reconcile_ = now;
    Result<ReconcilePass> pass = Status::OK();
    FERRY_RETURN_IF_ERROR(WithTarget([&](TargetWriter& w) {
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
    if (applied_ != reported_) {
      int64_t now_us = std::chrono::duration_cast<std::chrono::microseconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count();
      spdlog::info("applied {} events ({:.0f}/s); last commit LSN {}, {:.1f} s behind the source",
                   applied_ - reported_, (applied_ - reported_) / secs, last_lsn_.ToString(),
                   (now_us - last_commit_time_us_) / 1e6);
    }
    reported_ = applied_;
    last_report_ = now;
    if (int64_t conflicts = stats_.Total(); conflicts != reported_conflicts_) {
      spdlog::info("conflicts: {}", stats_.Summary());
      reported_conflicts_ = conflicts;
    }
  }

  const ApplyOptions& o_;
  checkpoint::PositionStore& store_;
  ReplayGuard guard_;
  ConflictStats stats_;
  int64_t reported_conflicts_ = 0;
  EventApplier events_;
  Reconciler reconciler_;
  checkpoint::FailureStore& failures_;
  Clock::time_point last_reconcile_ = Clock::now();
  std::unique_ptr<TargetWriter> writer_;
  std::unique_ptr<transport::EventConsumer> consumer_;
  int64_t applied_ = 0, reported_ = 0;
  Lsn last_lsn_;
  int64_t last_commit_time_us_ = 0;
  std::map<TopicPartition, transport::AppliedPosition> positions_;  // last applied, per partition
  std::map<std::string, metrics::Counter*> applied_counters_;      // by schema.table
  std::shared_ptr<LagState> lag_ = std::make_shared<LagState>();
  Clock::time_point last_report_ = Clock::now();
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

std::string TopicRegex(const std::string& prefix) {
  std::string out = "^";
  for (char c : prefix) {
    if (std::string_view("\\^$.|?*+()[]{}").find(c) != std::string_view::npos) out += '\\';
    out += c;
  }
  return out + "\\..*";
}

Status RunApply(const ApplyOptions& o) {
  FERRY_ASSIGN_OR_RETURN(auto store, checkpoint::RocksPositionStore::Open(o.state_dir + "/apply"));
  FERRY_ASSIGN_OR_RETURN(auto failures, OpenFailureStore(o.state_dir));
  checkpoint::RemoveStaleFailureAnswers(o.state_dir);
  if (failures->Count() > 0) {
    spdlog::warn("{} events are parked in {} (ferry failures list)", failures->Count(),
                 failures->dir());
  }
  Applier applier(o, *store, *failures);
  return applier.Run();
}

}  // namespace ferry::apply
