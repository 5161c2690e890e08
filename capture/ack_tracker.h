// AckTracker: decides which LSN capture may confirm to the replication slot.
//
// The rule: the slot's confirmed position moves past a transaction's commit only
// once Kafka has acknowledged every event of that transaction and of every
// earlier one. Transactions arrive from pgoutput in commit order; their events
// are acknowledged in any order (different partitions).
//
//   BeginTx -> EventSent* -> CommitTx         (decoding side)
//   EventAcked*                              (delivery reports, any time later)
//   Confirmable() = end LSN of the longest prefix of transactions that are
//                   committed and fully acknowledged.
//
// Thread-safety: none; capture's single loop owns it (delivery reports are
// served on that same thread).
#pragma once

#include <cstdint>
#include <deque>

#include "common/lsn.h"

namespace ferry::capture {

class AckTracker {
 public:
  // `start` is what is already confirmed (the position streaming resumed from).
  // first_id: the id BeginTx hands out first.
  explicit AckTracker(Lsn start, uint64_t first_id = 1) : next_id_(first_id), confirmable_(start) {}

  // Returns the transaction's id, the token its events are produced with.
  uint64_t BeginTx();
  void EventSent(uint64_t tx);
  void EventAcked(uint64_t tx);
  // end_lsn: the end of the commit record, what the slot is confirmed to.
  void CommitTx(uint64_t tx, Lsn end_lsn);

  Lsn Confirmable() const { return confirmable_; }
  // No transaction open or awaiting acknowledgement.
  bool Idle() const { return txs_.empty(); }
  // Moves the confirmable position forward to `lsn` when nothing is in flight
  // (server keepalives on an idle source). Ignored otherwise.
  void AdvanceIfIdle(Lsn lsn);
  int64_t EventsInFlight() const { return in_flight_; }
  uint64_t next_id() const { return next_id_; }

 private:
  struct Tx {
    uint64_t id = 0;
    int64_t pending = 0;
    bool committed = false;
    Lsn end_lsn;
  };
  Tx* Find(uint64_t id);
  void PopFinished();

  std::deque<Tx> txs_;
  uint64_t next_id_;
  int64_t in_flight_ = 0;
  Lsn confirmable_;
};

}  // namespace ferry::capture
