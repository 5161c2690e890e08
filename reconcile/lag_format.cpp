// FormatLagTable and FormatLagJson (declared in lag.h).
#include <fmt/chrono.h>
#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "reconcile/lag.h"
#include "transport/naming.h"

namespace ferry::reconcile {

namespace {

std::string IsoTime(std::chrono::system_clock::time_point t) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  return fmt::format("{:%Y-%m-%dT%H:%M:%S}.{:03d}Z", fmt::gmtime(secs), static_cast<int>(ms % 1000));
}

std::string IsoTimeUs(int64_t unix_us) {
  return IsoTime(std::chrono::system_clock::time_point(std::chrono::microseconds(unix_us)));
}

double SecondsSinceUs(int64_t unix_us, std::chrono::system_clock::time_point now) {
  int64_t now_us = std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count();
  return std::max<int64_t>(0, now_us - unix_us) / 1e6;
}

std::string Bytes(int64_t b) {
  if (b < 1024) return fmt::format("{} B", b);
  if (b < (1 << 20)) return fmt::format("{:.1f} KiB", b / 1024.0);
  if (b < (1 << 30)) return fmt::format("{:.1f} MiB", b / 1048576.0);
  return fmt::format("{:.2f} GiB", b / 1073741824.0);
}

std::string Seconds(const std::optional<double>& s) {
  return s ? fmt::format("{:.1f} s", *s) : std::string("unknown");
}

nlohmann::json OptionalNumber(const std::optional<double>& v) {
  return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
}

nlohmann::json AppliedJson(const std::optional<transport::AppliedPosition>& a) {
  if (!a) return nullptr;
  return {{"lsn", a->lsn.ToString()},
          {"commit_time_us", a->commit_time_us},
          {"commit_time", IsoTimeUs(a->commit_time_us)}};
}

// Capture's flow-control pause, when its last status says paused.
std::string PauseLines(const LagReport& r) {
  if (!r.capture_status || !r.capture_status->flow_control || !r.capture_status->paused) return "";
  const transport::CaptureStatus& s = *r.capture_status;
  double paused_for = SecondsSinceUs(s.since_us, r.measured_at);
  std::string out = fmt::format("  {:<8} PAUSED by flow control since {} ({:.0f} s): group '{}' ~{} behind on {} "
                                "(bound {}); reported {:.1f} s ago\n",
                                "", IsoTimeUs(s.since_us), paused_for, s.group, Bytes(s.behind_bytes), s.partition,
                                Bytes(s.bound_bytes), SecondsSinceUs(s.updated_us, r.measured_at));
  if (!s.problem.empty()) out += fmt::format("  {:<8} {}\n", "", s.problem);
  return out;
}

// A copy's progress is rewritten every 2 s while it runs, paused or not
// (capture/status_publisher.h): older, its capture has stopped writing it.
constexpr double kSnapshotStaleSeconds = 10;

bool Stale(const transport::CaptureStatus& s, const LagReport& r) {
  return SecondsSinceUs(s.updated_us, r.measured_at) > kSnapshotStaleSeconds;
}

// Capture says, currently, that the initial copy runs. The slot is inactive
// meanwhile (streamed only after the copy), which then means no dead capture.
bool InitialCopyRunning(const LagReport& r) {
  return r.capture_status && !r.capture_status->snapshot.empty() && !r.capture_status->stopped &&
         !Stale(*r.capture_status, r);
}

// What the capture row says after the slot's position: nothing while it is
// streamed; why it is not.
std::string SlotNote(const LagReport& r) {
  if (r.source.active) return "";
  return InitialCopyRunning(r) ? " (initial copy in progress, not streamed yet)" : " (INACTIVE)";
}

// How the copies' progress is introduced: as current, or as where they stood
// when their capture stopped (cleanly, or not: then its record grows old).
// The slot's `active` says nothing here: it is inactive during an initial copy.
std::string SnapshotHeading(const transport::CaptureStatus& s, const LagReport& r) {
  const double ago = SecondsSinceUs(s.updated_us, r.measured_at);
  if (s.stopped) return fmt::format("SNAPSHOT INTERRUPTED: capture stopped {:.1f} s ago; the copy stood at", ago);
  if (Stale(s, r)) {
    return fmt::format("SNAPSHOT NOT REPORTED for {:.1f} s (capture rewrites it every 2 s while copying): "
                       "capture may have died; its last report",
                       ago);
  }
  return fmt::format("SNAPSHOT (reported {:.1f} s ago)", ago);
}

bool AnySnapshot(const transport::CaptureStatus& s) {
  return !s.snapshot.empty() || !s.incremental_snapshot.empty();
}

// The initial copy's and the incremental snapshot's progress, as capture last
// reported them (each names itself on its first line).
std::string SnapshotLines(const LagReport& r) {
  if (!r.capture_status || !AnySnapshot(*r.capture_status)) return "";
  const transport::CaptureStatus& s = *r.capture_status;
  std::string out = fmt::format("  {:<8} {}\n", "", SnapshotHeading(s, r));
  for (std::string_view rest : {std::string_view(s.snapshot), std::string_view(s.incremental_snapshot)}) {
    while (!rest.empty()) {
      const size_t end = std::min(rest.find('\n'), rest.size());
      out += fmt::format("  {:<8} {}\n", "", rest.substr(0, end));
      rest.remove_prefix(std::min(end + 1, rest.size()));
    }
  }
  return out;
}

nlohmann::json TextOrNull(const std::string& s) { return s.empty() ? nlohmann::json(nullptr) : nlohmann::json(s); }

nlohmann::json FlowControlJson(const LagReport& r) {
  if (!r.capture_status || !r.capture_status->flow_control) return nullptr;
  const transport::CaptureStatus& s = *r.capture_status;
  return {{"paused", s.paused},
          {"since", s.paused ? nlohmann::json(IsoTimeUs(s.since_us)) : nlohmann::json(nullptr)},
          {"paused_seconds", s.paused ? nlohmann::json(SecondsSinceUs(s.since_us, r.measured_at)) : nlohmann::json(nullptr)},
          {"group", s.group},
          {"partition", s.partition},
          {"behind_bytes", s.behind_bytes},
          {"bound_bytes", s.bound_bytes},
          {"problem", s.problem.empty() ? nlohmann::json(nullptr) : nlohmann::json(s.problem)},
          {"reported_at", IsoTimeUs(s.updated_us)}};
}

}  // namespace

std::string FormatLagTable(const LagReport& r) {
  const capture::SlotState& s = r.source;
  std::string out = fmt::format("ferry lag at {} (slot {}, group {}, topic {})\n", IsoTime(r.measured_at),
                                r.slot, r.group, transport::ChangesTopic(r.topic_prefix));
  out += fmt::format("  {:<8} {:<44} {}\n", "stage", "position", "lag");
  out += fmt::format("  {:<8} {:<44} {}\n", "source",
                     fmt::format("WAL insert {}, written {}", s.wal_insert_lsn.ToString(), s.wal_lsn.ToString()),
                     "-");
  out += fmt::format("  {:<8} {:<44} {}, {}\n", "capture",
                     fmt::format("slot confirmed {}{}", s.confirmed_flush_lsn.ToString(), SlotNote(r)),
                     Bytes(s.lag_bytes), Seconds(s.lag_seconds));
  out += fmt::format("  {:<8} {:<44} retains {} of WAL (wal_status {})\n", "",
                     "slot restart " + s.restart_lsn.ToString(), Bytes(s.retained_wal_bytes), s.wal_status);
  out += PauseLines(r);
  out += SnapshotLines(r);
  out += fmt::format("  {:<8} {:<44} {} events\n", "kafka",
                     fmt::format("{} topics, {} partitions", r.topics, r.partitions.size()),
                     r.kafka_lag_events);
  std::string applied = r.last_applied ? fmt::format("applied {} at {}", r.last_applied->lsn.ToString(),
                                                     IsoTimeUs(r.last_applied->commit_time_us))
                                       : "nothing applied yet";
  out += fmt::format("  {:<8} {:<44} {} events, {}\n", "apply", applied, r.kafka_lag_events,
                     Seconds(r.apply_lag_seconds));
  bool header = false;
  for (const auto& p : r.partitions) {
    if (p.lag_events == 0) continue;
    if (!header) out += "  partitions behind:\n";
    header = true;
    out += fmt::format("    {:<40} log {}..{}  committed {}  lag {}{}{}\n", p.tp.ToString(), p.log_start,
                       p.log_end, p.committed < 0 ? std::string("none") : std::to_string(p.committed),
                       p.lag_events, p.read_offset ? "  read " + std::to_string(*p.read_offset) : "",
                       p.applied ? "  applied " + p.applied->lsn.ToString() : "");
  }
  if (r.wait) {
    const ZeroLagWait& w = *r.wait;
    out += fmt::format("  wait for zero: target LSN {}; slot {}; {} after {:.1f} s\n", w.target_lsn.ToString(),
                       w.slot_reached ? "reached" : "not reached",
                       w.zero ? std::string("ZERO")
                              : (w.events_remaining < 0 ? std::string("waiting for capture")
                                                        : std::to_string(w.events_remaining) + " events remaining"),
                       w.waited.count() / 1000.0);
  }
  return out;
}

std::string FormatLagJson(const LagReport& r) {
  const capture::SlotState& s = r.source;
  nlohmann::json parts = nlohmann::json::array();
  for (const auto& p : r.partitions) {
    parts.push_back({{"topic", p.tp.topic},
                     {"partition", p.tp.partition},
                     {"log_start", p.log_start},
                     {"log_end", p.log_end},
                     {"committed", p.committed < 0 ? nlohmann::json(nullptr) : nlohmann::json(p.committed)},
                     {"lag_events", p.lag_events},
                     {"read_offset", p.read_offset ? nlohmann::json(*p.read_offset) : nlohmann::json(nullptr)},
                     {"applied", AppliedJson(p.applied)}});
  }
  std::optional<double> seconds = r.apply_lag_seconds;
  if (seconds && s.lag_seconds) seconds = std::max(*seconds, *s.lag_seconds);
  nlohmann::json j = {
      {"measured_at", IsoTime(r.measured_at)},
      {"slot", r.slot},
      {"group", r.group},
      {"topic_prefix", r.topic_prefix},
      {"source", {{"wal_insert_lsn", s.wal_insert_lsn.ToString()}, {"wal_lsn", s.wal_lsn.ToString()}}},
      {"capture",
       {{"slot_active", s.active},
        {"initial_copy_running", InitialCopyRunning(r)},
        {"confirmed_flush_lsn", s.confirmed_flush_lsn.ToString()},
        {"restart_lsn", s.restart_lsn.ToString()},
        {"wal_status", s.wal_status},
        {"retained_wal_bytes", s.retained_wal_bytes},
        {"lag_bytes", s.lag_bytes},
        {"lag_seconds", OptionalNumber(s.lag_seconds)},
        {"flow_control", FlowControlJson(r)},
        {"snapshot", r.capture_status ? TextOrNull(r.capture_status->snapshot) : nullptr},
        {"incremental_snapshot", r.capture_status ? TextOrNull(r.capture_status->incremental_snapshot) : nullptr},
        {"snapshot_stopped", r.capture_status && AnySnapshot(*r.capture_status) && r.capture_status->stopped}}},
      {"kafka", {{"topics", r.topics}, {"lag_events", r.kafka_lag_events}, {"partitions", parts}}},
      {"apply",
       {{"last_applied", AppliedJson(r.last_applied)},
        {"lag_events", r.kafka_lag_events},
        {"lag_seconds", OptionalNumber(r.apply_lag_seconds)}}},
      {"lag", {{"bytes", s.lag_bytes}, {"events", r.kafka_lag_events}, {"seconds", OptionalNumber(seconds)}}},
  };
  if (r.wait) {
    const ZeroLagWait& w = *r.wait;
    j["wait"] = {{"target_lsn", w.target_lsn.ToString()},
                 {"slot_reached", w.slot_reached},
                 {"events_remaining", w.events_remaining < 0 ? nlohmann::json(nullptr)
                                                             : nlohmann::json(w.events_remaining)},
                 {"zero", w.zero},
                 {"waited_seconds", w.waited.count() / 1000.0}};
  }
  return j.dump(2);
}

}  // namespace ferry::reconcile
