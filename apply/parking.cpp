#include "apply/parking.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <set>

#include "apply/statement_builder.h"
#include "common/pg.h"
#include "common/signals.h"
#include "transport/naming.h"

namespace ferry::apply {

namespace {

using ferry::v1::ChangeEvent;
using ferry::v1::Column;
using checkpoint::ParkedEvent;

std::string KeyJson(const ChangeEvent& e) {
  const auto& columns = e.op() == ferry::v1::OP_DELETE ? e.old_columns() : e.columns();
  std::vector<transport::KeyValue> key;
  for (const std::string& name : e.key_columns()) {
    std::optional<std::string> value;
    for (const Column& c : columns) {
      if (c.name() == name && c.kind() == Column::KIND_TEXT) value = c.value();
    }
    key.emplace_back(name, std::move(value));
  }
  return transport::EncodeRowKey(key);
}

std::string TablePart(const ChangeEvent& e) {
  return QualifiedName(e.schema(), e.table()) + std::string(1, '\0');
}

// REPLICA IDENTITY FULL: the "key" is the whole row, so it changes with every
// update and cannot name the row across its events. Capture sends such a
// table's events in one partition (one table-wide Kafka key); parking holds
// the table the same way.
bool FullIdentity(const ChangeEvent& e) {
  return e.old_tuple() == ChangeEvent::OLD_FULL ||
         (e.key_columns_size() > 0 && e.key_columns_size() == e.columns_size());
}

}  // namespace

Result<OnError> ParseOnError(const std::string& text) {
  if (text == "stop") return OnError::kStop;
  if (text == "retry") return OnError::kRetry;
  if (text == "park") return OnError::kPark;
  return Status::InvalidArgument("--on-error must be stop, retry or park, not '" + text + "'");
}

bool IsEventError(const Status& s) {
  return s.code() == Status::Code::kInvalidArgument || s.code() == Status::Code::kCorruption;
}

std::string ParkingRow(const ChangeEvent& e) {
  if (e.op() == ferry::v1::OP_TRUNCATE || FullIdentity(e)) return TablePart(e);
  return TablePart(e) + KeyJson(e);
}

std::string_view TableOfRow(std::string_view row) {
  size_t nul = row.find('\0');
  return nul == std::string_view::npos ? row : row.substr(0, nul + 1);
}

std::string DescribeWithKey(const ChangeEvent& e) {
  if (e.op() == ferry::v1::OP_TRUNCATE) return DescribeEvent(e);
  return DescribeEvent(e) + ", key " + KeyJson(e);
}

int64_t NowMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

ParkedEvent RecordFor(const ChangeEvent& e, const MessageOrigin& origin, const std::string& error,
                      uint32_t attempts) {
  ParkedEvent r;
  r.kind = ParkedEvent::Kind::kEvent;
  r.row = ParkingRow(e);
  r.description = DescribeWithKey(e);
  r.source = origin.tp;
  r.offset = origin.offset;
  r.payload = e.SerializeAsString();
  r.error = error;
  r.attempts = attempts;
  r.first_seen_us = r.last_seen_us = NowMicros();
  return r;
}

bool EventApplier::Held(const ChangeEvent& e) const {
  std::string table = TablePart(e);
  if (e.op() == ferry::v1::OP_TRUNCATE) return store_.AnyParkedWithPrefix(table);
  return store_.IsParked(table) || store_.IsParked(ParkingRow(e));
}

Status EventApplier::Park(std::vector<ParkedEvent> records) {
  FERRY_RETURN_IF_ERROR(store_.Park(&records));
  parked_ += static_cast<int64_t>(records.size());
  return Status::OK();
}

Status EventApplier::Apply(TargetWriter& writer, std::span<const ChangeEvent> events,
                           std::span<const MessageOrigin> origins,
                           std::span<const AppliedPosition> progress) {
  size_t first_held = 0;
  while (first_held < events.size() && !Held(events[first_held])) ++first_held;
  if (first_held == events.size()) return ApplyUnheld(writer, events, origins, progress);  // no copy
  std::vector<ChangeEvent> rest(events.begin(), events.begin() + static_cast<ptrdiff_t>(first_held));
  std::vector<MessageOrigin> rest_origins(origins.begin(),
                                          origins.begin() + static_cast<ptrdiff_t>(first_held));
  std::vector<ParkedEvent> behind;
  std::set<std::string> held_tables;  // by a TRUNCATE parked in this call
  for (size_t i = first_held; i < events.size(); ++i) {
    const ChangeEvent& e = events[i];
    if (Held(e) || held_tables.contains(TablePart(e))) {
      if (e.op() == ferry::v1::OP_TRUNCATE) held_tables.insert(TablePart(e));
      behind.push_back(RecordFor(e, origins[i],
                                 "held behind an earlier parked event of the same row", 0));
    } else {
      rest.push_back(events[i]);
      rest_origins.push_back(origins[i]);
    }
  }
  spdlog::info("parked {} events behind earlier parked events of their rows", behind.size());
  // Parked (synced) first: the progress recorded with the rest covers them.
  FERRY_RETURN_IF_ERROR(Park(std::move(behind)));
  return ApplyUnheld(writer, rest, rest_origins, progress);
}

// Applies events none of whose rows is held; on an event error, bisects.
Status EventApplier::ApplyUnheld(TargetWriter& writer, std::span<const ChangeEvent> events,
                                 std::span<const MessageOrigin> origins,
                                 std::span<const AppliedPosition> progress) {
  if (events.empty()) return Status::OK();
  Status st = writer.ApplyBatch(events, progress);
  if (st.ok() || !IsEventError(st)) return st;
  if (events.size() == 1) return HandleFailure(writer, events[0], origins[0], st);
  size_t mid = events.size() / 2;
  // The second half is re-checked for held rows: the first may have parked one.
  FERRY_RETURN_IF_ERROR(Apply(writer, events.first(mid), origins.first(mid)));
  return Apply(writer, events.subspan(mid), origins.subspan(mid));
}

Status EventApplier::HandleFailure(TargetWriter& writer, const ChangeEvent& e,
                                   const MessageOrigin& origin, Status error) {
  error = error.WithContext("row key " + KeyJson(e) + " (" + origin.tp.ToString() + " offset " +
                            std::to_string(origin.offset) + ")");
  uint32_t attempts = 1;
  if (policy_.on_error == OnError::kRetry) {
    Status st = Retry(writer, e, &error);
    if (st.ok() || !IsEventError(st)) return st;
    attempts += static_cast<uint32_t>(policy_.retry_max);
    if (!policy_.park_after_retries) {
      return error.WithContext("gave up after " + std::to_string(policy_.retry_max) +
                               " retries (--on-error retry without --park-after-retries); fix "
                               "the target and restart apply: it resumes at this event");
    }
  } else if (policy_.on_error == OnError::kStop) {
    return error.WithContext("stopped (--on-error stop); fix the target and restart apply: it "
                             "resumes at this event");
  }
  spdlog::warn("parked {}: {}; later events of this row are parked behind it until the "
               "reconciler replays it",
               DescribeWithKey(e), error.ToString());
  return Park({RecordFor(e, origin, error.ToString(), attempts)});
}

// OK once the event applied; `*error` then holds the last failure.
Status EventApplier::Retry(TargetWriter& writer, const ChangeEvent& e, Status* error) {
  for (int attempt = 0; attempt < policy_.retry_max; ++attempt) {
    auto wait = Backoff(attempt);
    spdlog::warn("{}; retry {} of {} in {} ms", error->ToString(), attempt + 1, policy_.retry_max,
                 wait.count());
    SleepUnlessStopped(wait);
    if (StopRequested()) return Status::Aborted("stopped while retrying " + DescribeWithKey(e));
    Status st = writer.ApplyBatch({&e, 1});
    if (st.ok()) {
      spdlog::info("applied {} on retry {}", DescribeWithKey(e), attempt + 1);
      return st;
    }
    if (!IsEventError(st)) return st;
    *error = st.WithContext("row key " + KeyJson(e));
  }
  return *error;
}

Status EventApplier::ParkGarbage(const std::vector<Garbage>& garbage) {
  if (garbage.empty()) return Status::OK();
  if (policy_.on_error == OnError::kStop) {
    const Garbage& g = garbage.front();
    return Status::Corruption(g.error + "; apply stopped before it (--on-error stop), nothing "
                              "after it was applied");
  }
  std::vector<ParkedEvent> records;
  for (const Garbage& g : garbage) {
    spdlog::warn("parked {}", g.error);
    ParkedEvent r;
    r.kind = ParkedEvent::Kind::kGarbage;
    // Unique: nothing waits behind a message whose row is unknown.
    r.row = "#garbage " + g.origin.tp.ToString() + "@" + std::to_string(g.origin.offset);
    r.description = "message at " + g.origin.tp.ToString() + " offset " +
                    std::to_string(g.origin.offset) + " (" + std::to_string(g.bytes.size()) +
                    " bytes)";
    r.source = g.origin.tp;
    r.offset = g.origin.offset;
    r.payload = g.bytes;
    r.error = g.error;
    r.attempts = 1;
    r.first_seen_us = r.last_seen_us = NowMicros();
    records.push_back(std::move(r));
  }
  return Park(std::move(records));
}

}  // namespace ferry::apply
