// UnitAssembler: turns the changes topic's messages, in partition order, into
// whole units (a source transaction, or a snapshot chunk: change_event.proto),
// handing each on only once its OP_END arrived, so that apply never applies a
// part of a transaction.
//
// What it drops, and why:
//   replays     events at or before the last unit it handed on (or the
//               position apply resumed from): capture resent them after its
//               own or the source's crash;
//   duplicates  an event repeated within one capture session and unit (a
//               broker retry written twice);
//   stale       events of a capture session older than one already seen (a
//               late duplicate from before capture restarted).
// A unit whose OP_END never comes is abandoned when the next unit starts
// (capture died mid-unit and its next session resends it from index 0, or
// moved past it). A gap inside a unit, an event that starts no unit, or an
// OP_END whose count does not match is Corruption: nothing of it is applied.
//
// Large units: a unit is buffered until max_buffered_bytes; past that it is
// streamed (OnStreamStart, OnStreamEvents as events arrive and at each Flush,
// OnStreamEnd), so memory stays bounded whatever the transaction size. The
// handler then applies it inside one open target transaction and commits only
// at OnStreamEnd, or rolls it back at OnStreamAbandoned.
//
// Thread-safety: none; apply's loop owns it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "apply/applied_progress.h"
#include "common/status.h"
#include "transport/change_event.pb.h"

namespace ferry::apply {

// One unit, complete: its changes and the OP_END that closed it.
struct Unit {
  std::vector<ferry::v1::ChangeEvent> events;  // in order; no OP_END
  std::vector<int64_t> offsets;                // Kafka offset of each event
  ferry::v1::ChangeEvent end;
  int64_t first_offset = -1;  // Kafka offset of its first message
  int64_t end_offset = -1;    // of its OP_END
  size_t bytes = 0;           // serialized size of its messages
  // The position once it is applied.
  ApplyPosition Position() const;
};

ApplyPosition PositionAfter(const ferry::v1::ChangeEvent& end, int64_t end_offset);

class UnitHandler {
 public:
  virtual ~UnitHandler() = default;
  virtual Status OnUnit(Unit unit) = 0;
  // A unit outgrew the buffer: its events so far; the rest follow.
  virtual Status OnStreamStart(std::vector<ferry::v1::ChangeEvent> events, std::vector<int64_t> offsets,
                               int64_t first_offset) = 0;
  virtual Status OnStreamEvents(std::vector<ferry::v1::ChangeEvent> events, std::vector<int64_t> offsets) = 0;
  virtual Status OnStreamEnd(const ferry::v1::ChangeEvent& end, int64_t end_offset) = 0;
  // The streamed unit will never end: undo what was applied of it.
  virtual Status OnStreamAbandoned() = 0;
};

struct AssemblerCounts {
  int64_t replays = 0, duplicates = 0, stale = 0, abandoned = 0;
};

class UnitAssembler {
 public:
  UnitAssembler(UnitHandler& handler, size_t max_buffered_bytes)
      : handler_(handler), max_buffered_bytes_(max_buffered_bytes) {}

  // Forgets any unit in progress (without telling the handler); what is at or
  // before `applied` is a replay from now on.
  void Reset(const ApplyPosition& applied);
  // The next message of the partition; `bytes` is its size on the wire.
  Status Add(ferry::v1::ChangeEvent event, int64_t offset, size_t bytes);
  // Hands on the events of a streamed unit gathered since the last call.
  Status Flush();

  bool streaming() const { return streaming_; }
  // A unit has begun and not yet ended.
  bool in_unit() const { return open_; }
  const AssemblerCounts& counts() const { return counts_; }

 private:
  Status Begin(ferry::v1::ChangeEvent& e, int64_t offset);
  Status Append(ferry::v1::ChangeEvent e, int64_t offset, size_t bytes);
  Status End(ferry::v1::ChangeEvent e, int64_t offset);
  Status Abandon();
  bool StartsUnit(const ferry::v1::ChangeEvent& e) const;

  UnitHandler& handler_;
  size_t max_buffered_bytes_;
  ApplyPosition last_;            // the last unit handed on, or where apply resumed
  uint64_t latest_session_ = 0;   // the newest capture session seen since Reset
  AssemblerCounts counts_;

  // The unit in progress.
  bool open_ = false;
  bool streaming_ = false;
  uint64_t session_ = 0;
  uint64_t commit_lsn_ = 0;
  uint32_t next_index_ = 0;
  uint32_t events_ = 0;  // changes so far, streamed ones included
  Unit unit_;            // buffered events (or, streaming, those not yet handed on)
  size_t stream_bytes_ = 0;
};

}  // namespace ferry::apply
