#include "capture/ack_tracker.h"

namespace ferry::capture {

uint64_t AckTracker::BeginTx() {
  Tx tx;
  tx.id = next_id_;
  txs_.push_back(tx);
  return next_id_++;
}

AckTracker::Tx* AckTracker::Find(uint64_t id) {
  // Ids are consecutive in the deque, so the position is arithmetic.
  if (txs_.empty() || id < txs_.front().id) return nullptr;
  uint64_t idx = id - txs_.front().id;
  return idx < txs_.size() ? &txs_[idx] : nullptr;
}

void AckTracker::EventSent(uint64_t tx) {
  if (Tx* t = Find(tx)) {
    ++t->pending;
    ++in_flight_;
  }
}

void AckTracker::EventAcked(uint64_t tx) {
  if (Tx* t = Find(tx)) {
    --t->pending;
    --in_flight_;
    PopFinished();
  }
}

void AckTracker::CommitTx(uint64_t tx, Lsn end_lsn) {
  if (Tx* t = Find(tx)) {
    t->committed = true;
    t->end_lsn = end_lsn;
    PopFinished();
  }
}

void AckTracker::PopFinished() {
  while (!txs_.empty() && txs_.front().committed && txs_.front().pending == 0) {
    if (txs_.front().end_lsn > confirmable_) confirmable_ = txs_.front().end_lsn;
    txs_.pop_front();
  }
}

void AckTracker::AdvanceIfIdle(Lsn lsn) {
  if (Idle() && lsn > confirmable_) confirmable_ = lsn;
}

}  // namespace ferry::capture
