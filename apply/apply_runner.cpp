#include "apply/apply_runner.h"

#include "apply/replay_guard.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdlib>
#include <map>
#include <vector>

#include "checkpoint/position_store.h"
#include "common/lsn.h"
#include "common/signals.h"
#include "transport/event_consumer.h"

namespace ferry::apply {

namespace {

using Clock = std::chrono::steady_clock;

Result<std::vector<ferry::v1::ChangeEvent>> Decode(const std::vector<transport::ConsumedMessage>& batch) {
  std::vector<ferry::v1::ChangeEvent> events(batch.size());
  for (size_t i = 0; i < batch.size(); ++i) {
    const auto& m = batch[i];
    if (!events[i].ParseFromString(m.value) || events[i].table().empty() ||
        events[i].op() == ferry::v1::OP_UNSPECIFIED) {
      return Status::Corruption("message at " + m.tp.ToString() + " offset " + std::to_string(m.offset) +
                                " is not a ferry ChangeEvent (" + std::to_string(m.value.size()) +
                                " bytes); apply stopped before it, nothing after it was applied");
    }
  }
  return events;
}

class Applier {
 public:
  Applier(const ApplyOptions& o, checkpoint::PositionStore& store)
      : o_(o),
        store_(store),
        guard_(store, [this](const TopicPartition& tp) { return AppliedOnTarget(tp); }),
        stats_(o.conflict_stats ? o.conflict_stats : &own_stats_) {}

  Status Run() {
    FERRY_RETURN_IF_ERROR(ConnectTarget());
    FERRY_ASSIGN_OR_RETURN(
        consumer_, transport::EventConsumer::Create(
                       o_.kafka, o_.group, TopicRegex(o_.topic_prefix),
                       [this](const TopicPartition& tp) { return store_.GetOffset(tp); }));
    spdlog::info("applying topics {} as group '{}' to the target", TopicRegex(o_.topic_prefix), o_.group);
    while (!StopRequested()) {
      FERRY_ASSIGN_OR_RETURN(auto batch, consumer_->PollBatch(o_.batch_max_events, o_.batch_wait_ms));
      if (!batch.empty()) FERRY_RETURN_IF_ERROR(ApplyOne(batch));
      Report();
    }
    spdlog::info("conflicts: {}", stats_->Summary());
    return consumer_->Close();
  }

 private:
  Status ConnectTarget() {
    for (int attempt = 0;; ++attempt) {
      auto w = TargetWriter::Connect(o_.target_conninfo,
                                     {o_.rule, o_.log_conflicts, o_.skip_truncate,
                                      o_.create_tables, o_.evolve_schema, stats_});
      if (w.ok()) {
        writer_ = std::move(w).value();
        return Status::OK();
      }
      if (!w.status().IsRetriable() || StopRequested()) return w.status();
      spdlog::warn("{}; retrying", w.status().ToString());
      SleepUnlessStopped(Backoff(attempt));
    }
  }

  Status ApplyOne(const std::vector<transport::ConsumedMessage>& batch) {
    FERRY_ASSIGN_OR_RETURN(auto decoded, Decode(batch));
    std::vector<ReplayGuard::Item> items;
    items.reserve(batch.size());
    for (size_t i = 0; i < batch.size(); ++i) {
      items.push_back({batch[i].tp, batch[i].offset, std::move(decoded[i])});
    }
    FERRY_ASSIGN_OR_RETURN(auto filtered, guard_.Filter(std::move(items)));
    if (filtered.replays > 0) {
      spdlog::info("skipped {} events already applied (resent by capture or retried by the broker)",
                   filtered.replays);
    }
    const auto& events = filtered.events;
    std::vector<AppliedPosition> positions;
    for (const auto& [tp, time] : filtered.commit_time_us) {
      positions.push_back({tp, filtered.progress[tp].last_applied, time});
    }
    for (int attempt = 0; !events.empty(); ++attempt) {
      Status st = writer_->ApplyBatch(events, positions);
      if (st.ok()) break;
      if (!st.IsRetriable() || StopRequested()) return st;
      // The transaction may or may not have committed: reconnect, and apply
      // the same batch again unless the target recorded it.
      spdlog::warn("{}; reconnecting to the target", st.ToString());
      SleepUnlessStopped(Backoff(attempt));
      FERRY_RETURN_IF_ERROR(ConnectTarget());
      FERRY_ASSIGN_OR_RETURN(bool committed, CommittedOnTarget(positions));
      if (committed) break;
    }
    // Fault injection for tests: die in the window where only the target has the batch.
    if (!events.empty() && std::getenv("FERRY_FAULT_EXIT_AFTER_TARGET_COMMIT") != nullptr) {
      spdlog::warn("FERRY_FAULT_EXIT_AFTER_TARGET_COMMIT: exiting before recording the batch");
      std::_Exit(9);
    }
    FERRY_RETURN_IF_ERROR(store_.PutProgress(filtered.progress));
    guard_.Commit(filtered.progress);
    std::map<TopicPartition, int64_t> next;
    for (const auto& [tp, p] : filtered.progress) next[tp] = p.next_offset;
    consumer_->CommitOffsets(next).PermitUncheckedError();  // RocksDB is what we resume from
    if (events.empty()) return Status::OK();
    applied_ += static_cast<int64_t>(events.size());
    last_lsn_ = Lsn(events.back().commit_lsn());
    last_commit_time_us_ = events.back().commit_time_us();
    return Status::OK();
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
    if (int64_t conflicts = stats_->Total(); conflicts != reported_conflicts_) {
      spdlog::info("conflicts: {}", stats_->Summary());
      reported_conflicts_ = conflicts;
    }
  }

  const ApplyOptions& o_;
  checkpoint::PositionStore& store_;
  ReplayGuard guard_;
  ConflictStats own_stats_;
  ConflictStats* stats_;
  int64_t reported_conflicts_ = 0;
  std::unique_ptr<TargetWriter> writer_;
  std::unique_ptr<transport::EventConsumer> consumer_;
  int64_t applied_ = 0, reported_ = 0;
  Lsn last_lsn_;
  int64_t last_commit_time_us_ = 0;
  Clock::time_point last_report_ = Clock::now();
};

}  // namespace

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
  Applier applier(o, *store);
  return applier.Run();
}

}  // namespace ferry::apply
