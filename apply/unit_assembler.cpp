#include "apply/unit_assembler.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <utility>

namespace ferry::apply {

namespace {

using ferry::v1::ChangeEvent;

// While streaming, events are handed on in pieces of about this size.
constexpr size_t kStreamPieceBytes = 8 << 20;

std::string At(const ChangeEvent& e, int64_t offset) {
  return "commit LSN " + Lsn(e.commit_lsn()).ToString() + " event " + std::to_string(e.index_in_tx()) +
         " (offset " + std::to_string(offset) + ")";
}

}  // namespace

ApplyPosition PositionAfter(const ChangeEvent& end, int64_t end_offset) {
  return ApplyPosition{Lsn(end.commit_lsn()), end.index_in_tx(), end_offset, end.commit_time_us(), "",
                       Lsn(end.commit_end_lsn())};
}

ApplyPosition Unit::Position() const { return PositionAfter(end, end_offset); }

void UnitAssembler::Reset(const ApplyPosition& applied) {
  last_ = applied;
  latest_session_ = 0;
  open_ = streaming_ = false;
  unit_ = Unit();
  stream_bytes_ = 0;
}

// A unit begins at index 0 (a transaction), or right after the unit before it
// of the same commit LSN (the next chunk of an initial snapshot).
bool UnitAssembler::StartsUnit(const ChangeEvent& e) const {
  return e.index_in_tx() == 0 || (Lsn(e.commit_lsn()) == last_.commit_lsn && e.index_in_tx() == last_.index + 1);
}

Status UnitAssembler::Add(ChangeEvent e, int64_t offset, size_t bytes) {
  if (e.capture_session() < latest_session_) {
    ++counts_.stale;
    return Status::OK();
  }
  latest_session_ = e.capture_session();
  if (last_.Covers(e)) {
    ++counts_.replays;
    return Status::OK();
  }
  if (open_ && e.capture_session() == session_ && e.commit_lsn() == commit_lsn_) {
    if (e.index_in_tx() < next_index_) {
      ++counts_.duplicates;
      return Status::OK();
    }
    if (e.index_in_tx() > next_index_) {
      return Status::Corruption("events missing from the changes topic: after event " +
                                std::to_string(next_index_ - 1) + " of the unit at commit LSN " +
                                Lsn(commit_lsn_).ToString() + " comes " + At(e, offset));
    }
    return Append(std::move(e), offset, bytes);
  }
  if (open_) FERRY_RETURN_IF_ERROR(Abandon());
  if (!StartsUnit(e)) {
    return Status::Corruption("the changes topic has an event that starts no unit at " + At(e, offset) +
                              " (after " + last_.ToString() + "): the topic was written by something "
                              "other than one ferry capture, or lost messages");
  }
  FERRY_RETURN_IF_ERROR(Begin(e, offset));
  return Append(std::move(e), offset, bytes);
}

Status UnitAssembler::Begin(ChangeEvent& e, int64_t offset) {
  open_ = true;
  streaming_ = false;
  session_ = e.capture_session();
  commit_lsn_ = e.commit_lsn();
  next_index_ = e.index_in_tx();
  events_ = 0;
  unit_ = Unit();
  unit_.first_offset = offset;
  stream_bytes_ = 0;
  return Status::OK();
}

Status UnitAssembler::Append(ChangeEvent e, int64_t offset, size_t bytes) {
  ++next_index_;
  if (e.op() == ferry::v1::OP_END) return End(std::move(e), offset);
  ++events_;
  unit_.bytes += bytes;
  unit_.events.push_back(std::move(e));
  unit_.offsets.push_back(offset);
  if (!streaming_) {
    if (unit_.bytes <= max_buffered_bytes_) return Status::OK();
    streaming_ = true;
    spdlog::info("a unit at commit LSN {} is larger than {} bytes: applying it as it arrives, in one target "
                 "transaction committed at its end",
                 Lsn(commit_lsn_).ToString(), max_buffered_bytes_);
    return handler_.OnStreamStart(std::exchange(unit_.events, {}), std::exchange(unit_.offsets, {}),
                                  unit_.first_offset);
  }
  stream_bytes_ += bytes;
  if (stream_bytes_ < kStreamPieceBytes) return Status::OK();
  return Flush();
}

Status UnitAssembler::Flush() {
  if (!streaming_ || unit_.events.empty()) return Status::OK();
  stream_bytes_ = 0;
  return handler_.OnStreamEvents(std::exchange(unit_.events, {}), std::exchange(unit_.offsets, {}));
}

Status UnitAssembler::End(ChangeEvent e, int64_t offset) {
  if (e.unit_events() != events_) {
    open_ = false;
    return Status::Corruption("the unit at commit LSN " + Lsn(commit_lsn_).ToString() + " carries " +
                              std::to_string(events_) + " events but its end marker (offset " +
                              std::to_string(offset) + ") says " + std::to_string(e.unit_events()));
  }
  open_ = false;
  last_ = PositionAfter(e, offset);
  if (streaming_) {
    FERRY_RETURN_IF_ERROR(Flush());  // the last events, before the end
    streaming_ = false;
    unit_ = Unit();
    return handler_.OnStreamEnd(e, offset);
  }
  unit_.end = std::move(e);
  unit_.end_offset = offset;
  return handler_.OnUnit(std::exchange(unit_, Unit()));
}

Status UnitAssembler::Abandon() {
  ++counts_.abandoned;
  spdlog::info("the unit at commit LSN {} (from offset {}) was never completed by its capture session: "
               "abandoned, nothing of it applied",
               Lsn(commit_lsn_).ToString(), unit_.first_offset);
  open_ = false;
  unit_ = Unit();
  if (!streaming_) return Status::OK();
  streaming_ = false;
  return handler_.OnStreamAbandoned();
}

}  // namespace ferry::apply
