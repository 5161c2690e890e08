#include "reconcile/lag.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>
#include <memory>

#include "common/duration.h"
#include "common/pg.h"
#include "common/signals.h"
#include "transport/group_lag.h"
#include "transport/naming.h"

namespace ferry::reconcile {

namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(int64_t unix_us, std::chrono::system_clock::time_point now) {
  int64_t now_us =
      std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count();
  return std::max(0.0, (now_us - unix_us) / 1e6);
}

// The connections one measurement needs, kept across the polls of a wait.
class LagProbe {
 public:
  static Result<std::unique_ptr<LagProbe>> Connect(const LagOptions& o) {
    if (o.source_conninfo.empty()) return Status::InvalidArgument("--source is empty");
    auto probe = std::unique_ptr<LagProbe>(new LagProbe(o));
    FERRY_ASSIGN_OR_RETURN(probe->source_, PgConn::Connect(o.source_conninfo));
    FERRY_ASSIGN_OR_RETURN(probe->kafka_, transport::GroupLagMonitor::Create(o.kafka, o.group));
    return probe;
  }

  Result<Lsn> CurrentWalLsn() {
    FERRY_ASSIGN_OR_RETURN(std::string text, source_.QueryScalar("SELECT pg_current_wal_lsn()"));
    return Lsn::Parse(text);
  }

  Result<LagReport> Measure() {
    LagReport r;
    r.slot = o_.slot;
    r.group = o_.group;
    r.topic_prefix = o_.topic_prefix;
    if (PQstatus(source_.get()) != CONNECTION_OK) {  // lost during a wait: reconnect
      FERRY_ASSIGN_OR_RETURN(source_, PgConn::Connect(o_.source_conninfo));
    }
    // The slot before Kafka: WaitForZeroLag relies on log ends read after the slot.
    FERRY_ASSIGN_OR_RETURN(r.source, capture::QuerySlotState(source_, o_.slot));
    // The one topic apply reads (per-table topics of earlier versions are not apply's any more).
    const std::vector<std::string> topics = {transport::ChangesTopic(o_.topic_prefix)};
    FERRY_ASSIGN_OR_RETURN(auto lags, kafka_->Query(topics, o_.kafka_timeout_ms));
    FERRY_ASSIGN_OR_RETURN(r.capture_status, CaptureStatus());
    r.measured_at = std::chrono::system_clock::now();
    r.topics = lags.empty() ? 0 : 1;
    Summarize(lags, r);
    return r;
  }

 private:
  explicit LagProbe(const LagOptions& o) : o_(o) {}

  // Re-read every few seconds during a wait: it changes slowly, and each read
  // is a short-lived consumer.
  Result<std::optional<transport::CaptureStatus>> CaptureStatus() {
    auto now = Clock::now();
    if (status_read_ == Clock::time_point{} || now - status_read_ > kStatusRefresh) {
      FERRY_ASSIGN_OR_RETURN(status_,
                             transport::ReadCaptureStatus(o_.kafka, o_.topic_prefix, o_.slot, o_.kafka_timeout_ms));
      status_read_ = now;
    }
    return status_;
  }

  static void Summarize(const std::vector<transport::PartitionLag>& lags, LagReport& r) {
    for (const transport::PartitionLag& l : lags) {
      PartitionLagReport& p = r.partitions.emplace_back();
      p.tp = l.tp;
      p.log_start = l.log_start;
      p.log_end = l.log_end;
      p.committed = l.committed;
      p.lag_events = std::max<int64_t>(0, l.lag());
      transport::CommitMetadata meta = transport::DecodeCommitMetadata(l.metadata);
      p.applied = meta.applied;
      if (meta.read_offset && *meta.read_offset > l.committed) p.read_offset = meta.read_offset;
      r.kafka_lag_events += p.lag_events;
      if (p.applied && (!r.last_applied || p.applied->lsn > r.last_applied->lsn)) r.last_applied = p.applied;
    }
    std::sort(r.partitions.begin(), r.partitions.end(),
              [](const auto& a, const auto& b) { return a.tp < b.tp; });
    if (r.kafka_lag_events == 0) {
      r.apply_lag_seconds = 0;
    } else if (r.last_applied) {
      r.apply_lag_seconds = SecondsSince(r.last_applied->commit_time_us, r.measured_at);
    }
  }

  static constexpr auto kStatusRefresh = std::chrono::seconds(2);
  const LagOptions& o_;
  PgConn source_;
  std::unique_ptr<transport::GroupLagMonitor> kafka_;
  std::optional<transport::CaptureStatus> status_;
  Clock::time_point status_read_{};
};

// Events below `ends` (step 3's log end offsets) the group has not committed.
int64_t EventsRemaining(const std::map<TopicPartition, int64_t>& ends, const LagReport& r) {
  std::map<TopicPartition, int64_t> committed;
  for (const auto& p : r.partitions) committed[p.tp] = p.committed;
  int64_t remaining = 0;
  for (const auto& [tp, end] : ends) {
    auto it = committed.find(tp);
    int64_t c = it == committed.end() ? -1 : it->second;
    // Without a commit, everything from the log start counts; it is at most `end`.
    if (c < end) remaining += end - std::max<int64_t>(c, 0);
  }
  return remaining;
}

}  // namespace

Result<LagReport> MeasureLag(const LagOptions& options) {
  FERRY_ASSIGN_OR_RETURN(auto probe, LagProbe::Connect(options));
  return probe->Measure();
}

Status WaitForZeroLag(const LagOptions& options, std::chrono::milliseconds timeout, LagReport* last) {
  auto start = Clock::now();
  auto deadline = start + timeout;
  FERRY_ASSIGN_OR_RETURN(auto probe, LagProbe::Connect(options));
  ZeroLagWait wait;
  FERRY_ASSIGN_OR_RETURN(wait.target_lsn, probe->CurrentWalLsn());
  std::map<TopicPartition, int64_t> ends;  // step 3, taken once the slot passed L
  for (;;) {
    Result<LagReport> measured = probe->Measure();
    if (!measured.ok()) {
      // A broker or the source briefly away: keep trying until the deadline.
      if (!measured.status().IsRetriable() || Clock::now() >= deadline || StopRequested()) {
        return measured.status();
      }
      spdlog::warn("measuring lag: {}; retrying", measured.status().ToString());
      SleepUnlessStopped(options.poll_interval);
      continue;
    }
    LagReport& report = *measured;
    if (!wait.slot_reached && report.source.confirmed_flush_lsn >= wait.target_lsn) {
      wait.slot_reached = true;
      // Measure reads Kafka after the slot: these log ends cover every event up to L.
      for (const auto& p : report.partitions) {
        if (p.log_end > 0) ends[p.tp] = p.log_end;
      }
    }
    if (wait.slot_reached) wait.events_remaining = EventsRemaining(ends, report);
    wait.zero = wait.slot_reached && wait.events_remaining == 0;
    wait.waited = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
    report.wait = wait;
    if (last != nullptr) *last = report;
    if (wait.zero) return Status::OK();
    if (StopRequested()) return Status::Aborted("interrupted before the lag reached zero");
    if (Clock::now() >= deadline) {
      std::string where =
          !wait.slot_reached
              ? "the slot's confirmed_flush_lsn is " + report.source.confirmed_flush_lsn.ToString() +
                    ", capture has not yet confirmed up to " + wait.target_lsn.ToString() + " (" +
                    std::to_string(wait.target_lsn.value() > report.source.confirmed_flush_lsn.value()
                                       ? wait.target_lsn.value() - report.source.confirmed_flush_lsn.value()
                                       : 0) +
                    " bytes of WAL)"
              : std::to_string(wait.events_remaining) + " events in Kafka are not yet applied";
      return Status::Aborted("lag did not reach zero within " + FormatDuration(timeout) + ": " + where);
    }
    SleepUnlessStopped(std::min(options.poll_interval,
                                std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()) +
                                    std::chrono::milliseconds(1)));
  }
}

}  // namespace ferry::reconcile
