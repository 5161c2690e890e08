#include "apply/unit_applier.h"

#include <spdlog/spdlog.h>

#include "common/signals.h"
#include "transport/row_batch.h"

namespace ferry::apply {

namespace {

using Clock = std::chrono::steady_clock;
using ferry::v1::ChangeEvent;

constexpr const char* kHeld = "held behind an earlier parked transaction that changes the same rows";

}  // namespace

std::string DescribeUnit(const Unit& unit) {
  std::string what = unit.end.xid() != 0 ? "transaction" : "snapshot chunk";
  std::string out = what + " at commit LSN " + Lsn(unit.end.commit_lsn()).ToString();
  if (unit.end.xid() != 0) out += " (xid " + std::to_string(unit.end.xid());
  else out += " (";
  out += (unit.end.xid() != 0 ? ", " : "") + std::to_string(unit.events.size()) + " events";
  if (unit.first_offset >= 0) {
    out += ", offsets " + std::to_string(unit.first_offset) + ".." + std::to_string(unit.end_offset);
  }
  return out + ")";
}

// Connects until it works, the error needs a person, or a stop is requested.
Status UnitApplier::Reconnect(int attempt) {
  if (writer_ && writer_->in_transaction()) writer_->Abort();
  writer_.reset();
  for (;; ++attempt) {
    if (StopRequested()) return Status::Aborted("stopped while reconnecting to the target");
    if (attempt > 0) SleepUnlessStopped(Backoff(attempt - 1));
    Result<std::unique_ptr<TargetWriter>> w = connect_();
    if (w.ok()) {
      writer_ = std::move(w).value();
      return Status::OK();
    }
    if (!w.status().IsRetriable()) return w.status();
    spdlog::warn("{}; retrying", w.status().ToString());
  }
}

Result<ApplyPosition> UnitApplier::Start(const TopicPartition& tp) {
  Stop();
  tp_ = tp;
  for (int attempt = 0;; ++attempt) {
    if (!writer_) FERRY_RETURN_IF_ERROR(Reconnect(attempt));
    Result<ApplyPosition> p = writer_->LoadPosition(tp);
    if (p.ok()) {
      applied_ = *p;
      return applied_;
    }
    if (!p.status().IsRetriable()) return p.status();
    spdlog::warn("{}; reconnecting to the target", p.status().ToString());
    writer_.reset();
  }
}

void UnitApplier::Stop() {
  if (writer_ && writer_->in_transaction()) writer_->Abort();
  Discard();
  group_.clear();
  group_events_ = group_bytes_ = 0;
  streaming_ = false;
  park_stream_.reset();
  rewind_ = false;
}

void UnitApplier::AskRewind(const char* why) {
  spdlog::info("reading {} again from offset {} ({}): {}", tp_.ToString(), applied_.offset + 1,
               applied_.ToString(), why);
  if (writer_ && writer_->in_transaction()) writer_->Abort();
  Discard();
  group_.clear();
  group_events_ = group_bytes_ = 0;
  streaming_ = false;
  rewind_ = true;
}

// Opens a target transaction at applied_. Sets rewind_ when the position moved.
Status UnitApplier::Open() {
  for (int attempt = 0;; ++attempt) {
    if (!writer_) FERRY_RETURN_IF_ERROR(Reconnect(attempt));
    Status st = writer_->Begin(tp_, applied_);
    if (st.ok()) {
      group_opened_ = Clock::now();
      return st;
    }
    if (writer_->position_moved()) {
      spdlog::warn("{}", st.ToString());
      Result<ApplyPosition> p = writer_->LoadPosition(tp_);
      if (p.ok()) {
        applied_ = *p;
        AskRewind("another apply process moved the position");
        return Status::OK();
      }
      st = p.status();
    }
    if (!st.IsRetriable()) return st;
    spdlog::warn("{}; reconnecting to the target", st.ToString());
    writer_.reset();
  }
}

bool UnitApplier::GroupDue() const {
  const auto max_age = writer_ && writer_->copying_snapshot_rows() ? limits_.max_copy_age : limits_.max_age;
  return !group_.empty() && (group_events_ >= limits_.max_events || group_bytes_ >= limits_.max_bytes ||
                             Clock::now() - group_opened_ >= max_age);
}

Status UnitApplier::OnUnit(Unit unit) {
  if (rewind_) return Status::OK();
  Entry entry{std::move(unit)};
  if (HeldByParked(store_, entry.unit.events)) {
    FERRY_RETURN_IF_ERROR(ParkUnit(entry.unit, kHeld, 0));
    entry.parked = true;
  }
  return AddToGroup(std::move(entry));
}

Status UnitApplier::AddToGroup(Entry entry) {
  if (group_.empty()) {
    FERRY_RETURN_IF_ERROR(Open());
    if (rewind_) return Status::OK();
  }
  group_events_ += entry.unit.events.size();
  group_bytes_ += entry.unit.bytes;
  group_.push_back(std::move(entry));
  const Entry& added = group_.back();
  if (!added.parked) {
    Count(added.unit.events);
    Status st = writer_->Hold(added.unit.events, group_.size() - 1);
    if (!st.ok()) return GroupFailed(st);
  }
  if (GroupDue()) return CommitGroup();
  return Status::OK();
}

Status UnitApplier::CommitGroup() {
  if (group_.empty()) return Status::OK();
  Status st = writer_->Commit(OnCluster(group_.back().unit.Position()));
  if (!st.ok()) {
    // Handling the failure may leave the units after the failing one in a new group.
    FERRY_RETURN_IF_ERROR(GroupFailed(st));
    return CommitGroup();
  }
  applied_ = group_.back().unit.Position();
  Committed();
  group_.clear();
  group_events_ = group_bytes_ = 0;
  return Status::OK();
}

// The open group's transaction failed: nothing of it is on the target.
Status UnitApplier::GroupFailed(Status st) {
  std::optional<size_t> failed = writer_->failed_tag();
  const bool moved = writer_->position_moved();
  writer_->Abort();
  Discard();
  std::vector<Entry> entries = std::move(group_);
  group_.clear();
  group_events_ = group_bytes_ = 0;
  if (moved) {
    Result<ApplyPosition> p = writer_->LoadPosition(tp_);
    if (!p.ok()) return p.status();
    applied_ = *p;
    AskRewind("another apply process moved the position");
    return Status::OK();
  }
  if (st.IsRetriable()) {
    spdlog::warn("{}; applying the last {} transactions again", st.ToString(), entries.size());
    return CommitUnits(entries);
  }
  if (!IsEventError(st)) return st;
  if (!failed || *failed >= entries.size()) {
    // Not one unit's statement (a deferred constraint at COMMIT): each alone, in order.
    for (Entry& e : entries) {
      FERRY_RETURN_IF_ERROR(ApplyAlone(e));
      if (rewind_) return Status::OK();
    }
    return Status::OK();
  }
  // The units before the failing one applied: commit them on their own.
  FERRY_RETURN_IF_ERROR(CommitUnits(std::span(entries).first(*failed)));
  if (rewind_) return Status::OK();
  // Alone, statement by statement: the error names the event (or it applies now).
  FERRY_RETURN_IF_ERROR(ApplyAlone(entries[*failed]));
  if (rewind_) return Status::OK();
  for (size_t i = *failed + 1; i < entries.size(); ++i) {
    // A unit parked just now may hold the ones after it.
    if (!entries[i].parked && HeldByParked(store_, entries[i].unit.events)) {
      FERRY_RETURN_IF_ERROR(ParkUnit(entries[i].unit, kHeld, 0));
      entries[i].parked = true;
    }
    FERRY_RETURN_IF_ERROR(AddToGroup(std::move(entries[i])));
    if (rewind_) return Status::OK();
  }
  return Status::OK();
}

// The entries in one transaction of their own, through lost connections. An
// event error is returned (nothing committed).
Status UnitApplier::CommitUnits(std::span<Entry> entries) {
  if (entries.empty()) return Status::OK();
  const ApplyPosition end = OnCluster(entries.back().unit.Position());
  const bool precise = entries.size() == 1;
  for (int attempt = 0;; ++attempt) {
    FERRY_RETURN_IF_ERROR(Open());
    if (rewind_) return Status::OK();
    Status st;
    Discard();
    for (size_t i = 0; i < entries.size() && st.ok(); ++i) {
      if (entries[i].parked) continue;
      Count(entries[i].unit.events);
      st = precise ? writer_->Add(entries[i].unit.events, i, true) : writer_->Hold(entries[i].unit.events, i);
    }
    if (st.ok()) st = writer_->Commit(end);
    if (st.ok()) {
      applied_ = end;
      Committed();
      return st;
    }
    const bool moved = writer_->position_moved();
    writer_->Abort();
    Discard();
    if (moved) {
      FERRY_ASSIGN_OR_RETURN(applied_, writer_->LoadPosition(tp_));
      AskRewind("another apply process moved the position");
      return Status::OK();
    }
    if (!st.IsRetriable()) return st;
    // Lost during COMMIT, the transaction may be on the target: its position says.
    spdlog::warn("{}; reconnecting to the target", st.ToString());
    FERRY_RETURN_IF_ERROR(Reconnect(attempt + 1));
    Result<ApplyPosition> held = writer_->LoadPosition(tp_);
    if (!held.ok()) continue;
    if (held->SameAs(end)) {
      applied_ = end;
      return Status::OK();
    }
    if (!held->SameAs(applied_)) {
      applied_ = *held;
      AskRewind("the target's position is not where this process left it");
      return Status::OK();
    }
  }
}

Status UnitApplier::ApplyAlone(Entry& entry) {
  if (!entry.parked && HeldByParked(store_, entry.unit.events)) {
    FERRY_RETURN_IF_ERROR(ParkUnit(entry.unit, kHeld, 0));
    entry.parked = true;
  }
  Status st = CommitUnits(std::span(&entry, 1));
  if (IsEventError(st)) return HandleUnitFailure(entry, st);
  return st;
}

Status UnitApplier::HandleUnitFailure(Entry& entry, Status error) {
  error = error.WithContext(DescribeUnit(entry.unit) + " read from " + tp_.ToString());
  uint32_t attempts = 1;
  if (policy_.on_error == OnError::kRetry) {
    for (int retry = 0; retry < policy_.retry_max; ++retry) {
      auto wait = Backoff(retry);
      spdlog::warn("{}; retry {} of {} in {} ms", error.ToString(), retry + 1, policy_.retry_max, wait.count());
      SleepUnlessStopped(wait);
      if (StopRequested()) return Status::Aborted("stopped while retrying the " + DescribeUnit(entry.unit));
      Status st = CommitUnits(std::span(&entry, 1));
      if (st.ok()) {
        if (!rewind_) spdlog::info("applied the {} on retry {}", DescribeUnit(entry.unit), retry + 1);
        return st;
      }
      if (!IsEventError(st)) return st;
      error = st.WithContext(DescribeUnit(entry.unit) + " read from " + tp_.ToString());
    }
    attempts += static_cast<uint32_t>(policy_.retry_max);
    if (!policy_.park_after_retries) {
      return error.WithContext("gave up after " + std::to_string(policy_.retry_max) +
                               " retries (--on-error retry without --park-after-retries); fix the target "
                               "and restart apply: it resumes at this transaction");
    }
  } else if (policy_.on_error == OnError::kStop) {
    return error.WithContext("stopped (--on-error stop); fix the target and restart apply: it resumes at "
                             "this transaction");
  }
  FERRY_RETURN_IF_ERROR(ParkUnit(entry.unit, error.ToString(), attempts));
  spdlog::warn("parked the {}: {}; later transactions that change its rows are parked behind it until the "
               "reconciler replays it",
               DescribeUnit(entry.unit), error.ToString());
  entry.parked = true;
  return CommitUnits(std::span(&entry, 1));  // the position moves past it
}

Status UnitApplier::ParkUnit(const Unit& unit, const std::string& error, uint32_t attempts) {
  std::vector<checkpoint::ParkedEvent> records =
      UnitRecords(unit.events, unit.offsets, tp_, unit.first_offset, error, attempts);
  auto end = UnitRecords(std::span(&unit.end, 1), std::span(&unit.end_offset, 1), tp_, unit.first_offset, error,
                         attempts);
  records.push_back(std::move(end.front()));
  FERRY_RETURN_IF_ERROR(store_.Park(&records));
  ++parked_units_;
  if (error == kHeld) spdlog::info("parked the {}: {}", DescribeUnit(unit), error);
  return Status::OK();
}

Status UnitApplier::OnStreamStart(std::vector<ChangeEvent> events, std::vector<int64_t> offsets,
                                  int64_t first_offset) {
  if (rewind_) return Status::OK();
  FERRY_RETURN_IF_ERROR(CommitGroup());  // the large unit gets a transaction of its own
  if (rewind_) return Status::OK();
  streaming_ = true;
  stream_first_ = first_offset;
  if (!park_stream_ && HeldByParked(store_, events)) {
    park_stream_ = first_offset;
    park_error_ = kHeld;
    park_attempts_ = 0;
  }
  if (park_stream_ == first_offset) return ParkStreamed(events, offsets);
  FERRY_RETURN_IF_ERROR(Open());
  if (rewind_) return Status::OK();
  if (stream_without_copy_ != first_offset) writer_->CopyInsertsOpen();
  Count(events);
  Status st = writer_->Add(events, 0);
  return st.ok() ? st : StreamFailed(st);
}

Status UnitApplier::OnStreamEvents(std::vector<ChangeEvent> events, std::vector<int64_t> offsets) {
  if (rewind_ || !streaming_) return Status::OK();
  if (park_stream_ == stream_first_) return ParkStreamed(events, offsets);
  if (HeldByParked(store_, events)) {
    park_stream_ = stream_first_;
    park_error_ = kHeld;
    park_attempts_ = 0;
    AskRewind("it changes a row of a parked transaction: reading it again to park it whole");
    return Status::OK();
  }
  Count(events);
  Status st = writer_->Add(events, 0);
  return st.ok() ? st : StreamFailed(st);
}

Status UnitApplier::OnStreamEnd(const ChangeEvent& end, int64_t end_offset) {
  if (rewind_ || !streaming_) return Status::OK();
  streaming_ = false;
  const ApplyPosition position = OnCluster(PositionAfter(end, end_offset));
  if (park_stream_ == stream_first_) {
    park_stream_.reset();
    FERRY_RETURN_IF_ERROR(ParkStreamed(std::span(&end, 1), std::span(&end_offset, 1)));
    ++parked_units_;
    spdlog::warn("parked the large transaction at commit LSN {} (offsets {}..{}): {}",
                 Lsn(end.commit_lsn()).ToString(), stream_first_, end_offset, park_error_);
    Entry entry;
    entry.unit.end = end;
    entry.unit.end_offset = end_offset;
    entry.parked = true;
    return CommitUnits(std::span(&entry, 1));
  }
  Status st = writer_->Commit(position);
  if (!st.ok()) return StreamFailed(st);
  applied_ = position;
  Committed();
  stream_retries_.erase(stream_first_);
  stream_without_copy_.reset();
  return Status::OK();
}

Status UnitApplier::OnStreamAbandoned() {
  if (!streaming_) return Status::OK();
  streaming_ = false;
  if (park_stream_ != stream_first_) {
    writer_->Abort();
    Discard();
    return Status::OK();
  }
  // Records of a unit that never ended can never be replayed: take them back.
  park_stream_.reset();
  FERRY_ASSIGN_OR_RETURN(auto records, store_.List());
  std::vector<uint64_t> ids;
  for (const auto& r : records) {
    if (r.source == tp_ && r.unit == stream_first_) ids.push_back(r.id);
  }
  return ids.empty() ? Status::OK() : store_.Remove(ids);
}

Status UnitApplier::ParkStreamed(std::span<const ChangeEvent> events, std::span<const int64_t> offsets) {
  auto records = UnitRecords(events, offsets, tp_, stream_first_, park_error_, park_attempts_);
  return store_.Park(&records);
}

// The streamed unit's transaction failed: nothing of it is on the target (or,
// lost during COMMIT, all of it: the position row says).
Status UnitApplier::StreamFailed(Status st) {
  const bool moved = writer_->position_moved();
  const bool copy_refused = writer_->copy_refused();
  writer_->Abort();
  Discard();
  streaming_ = false;
  if (copy_refused && !moved) {
    spdlog::info("{}", st.ToString());
    stream_without_copy_ = stream_first_;
    AskRewind("the target refused the large transaction's COPY: applying it again by statements");
    return Status::OK();
  }
  if (moved || st.IsRetriable()) {
    spdlog::warn("{}", st.ToString());
    if (st.IsRetriable() && !moved) FERRY_RETURN_IF_ERROR(Reconnect(1));
    FERRY_ASSIGN_OR_RETURN(applied_, writer_->LoadPosition(tp_));
    AskRewind("the large transaction's target transaction did not complete");
    return Status::OK();
  }
  if (!IsEventError(st)) return st;
  st = st.WithContext("the large transaction from offset " + std::to_string(stream_first_) + " of " +
                      tp_.ToString());
  uint32_t attempts = 1;
  if (policy_.on_error == OnError::kStop) {
    return st.WithContext("stopped (--on-error stop); fix the target and restart apply: it resumes at this "
                          "transaction");
  }
  if (policy_.on_error == OnError::kRetry) {
    int& retries = stream_retries_[stream_first_];
    if (retries < policy_.retry_max) {
      auto wait = Backoff(retries++);
      spdlog::warn("{}; retry {} of {} in {} ms", st.ToString(), retries, policy_.retry_max, wait.count());
      SleepUnlessStopped(wait);
      AskRewind("retrying the large transaction");
      return Status::OK();
    }
    attempts += static_cast<uint32_t>(retries);
    if (!policy_.park_after_retries) {
      return st.WithContext("gave up after " + std::to_string(policy_.retry_max) +
                            " retries (--on-error retry without --park-after-retries); fix the target and "
                            "restart apply: it resumes at this transaction");
    }
  }
  park_stream_ = stream_first_;
  park_error_ = st.ToString();
  park_attempts_ = attempts;
  AskRewind("parking the large transaction whole");
  return Status::OK();
}

void UnitApplier::Count(std::span<const ChangeEvent> events) {
  for (const ChangeEvent& e : events) {
    uncommitted_[e.schema() + "." + e.table()] += transport::IsRowBatch(e.op()) ? e.row_count() : 1;
  }
}

void UnitApplier::Committed() {
  for (const auto& [table, n] : uncommitted_) {
    auto it = counters_.find(table);
    if (it == counters_.end()) it = counters_.emplace(table, &metrics::AppliedEvents(table)).first;
    it->second->Increment(n);
    applied_events_ += n;
  }
  uncommitted_.clear();
}

Status UnitApplier::WithWriter(const std::function<Status(TargetWriter&)>& step) {
  for (int attempt = 0;; ++attempt) {
    if (!writer_) FERRY_RETURN_IF_ERROR(Reconnect(attempt));
    Status st = step(*writer_);
    if (!st.IsRetriable() || StopRequested()) return st;
    spdlog::warn("{}; reconnecting to the target", st.ToString());
    writer_.reset();
  }
}

}  // namespace ferry::apply
