#include "capture/ack_tracker.h"

#include <gtest/gtest.h>

namespace ferry::capture {
namespace {

TEST(AckTrackerTest, ConfirmsOnlyAfterEveryEventOfTheTransactionIsAcked) {
  AckTracker t(Lsn(100));
  uint64_t tx = t.BeginTx();
  t.EventSent(tx);
  t.EventSent(tx);
  t.CommitTx(tx, Lsn(200));
  EXPECT_EQ(t.Confirmable(), Lsn(100));
  t.EventAcked(tx);
  EXPECT_EQ(t.Confirmable(), Lsn(100));
  t.EventAcked(tx);
  EXPECT_EQ(t.Confirmable(), Lsn(200));
  EXPECT_TRUE(t.Idle());
}

TEST(AckTrackerTest, LaterTransactionAckedFirstWaitsForEarlierOne) {
  AckTracker t(Lsn(0));
  uint64_t a = t.BeginTx();
  t.EventSent(a);
  t.CommitTx(a, Lsn(10));
  uint64_t b = t.BeginTx();
  t.EventSent(b);
  t.CommitTx(b, Lsn(20));
  t.EventAcked(b);
  EXPECT_EQ(t.Confirmable(), Lsn(0));
  t.EventAcked(a);
  EXPECT_EQ(t.Confirmable(), Lsn(20));
}

TEST(AckTrackerTest, OpenTransactionBlocksEvenWhenAcked) {
  AckTracker t(Lsn(5));
  uint64_t a = t.BeginTx();
  t.EventSent(a);
  t.EventAcked(a);
  EXPECT_EQ(t.Confirmable(), Lsn(5));
  t.AdvanceIfIdle(Lsn(50));
  EXPECT_EQ(t.Confirmable(), Lsn(5)) << "keepalive must not move past an open transaction";
  t.CommitTx(a, Lsn(30));
  EXPECT_EQ(t.Confirmable(), Lsn(30));
}

TEST(AckTrackerTest, IdleKeepaliveAdvancesAndNeverMovesBack) {
  AckTracker t(Lsn(40));
  t.AdvanceIfIdle(Lsn(60));
  EXPECT_EQ(t.Confirmable(), Lsn(60));
  t.AdvanceIfIdle(Lsn(50));
  EXPECT_EQ(t.Confirmable(), Lsn(60));
}

TEST(AckTrackerTest, EmptyCommittedTransactionConfirmsAtOnce) {
  AckTracker t(Lsn(1));
  uint64_t a = t.BeginTx();
  t.CommitTx(a, Lsn(9));
  EXPECT_EQ(t.Confirmable(), Lsn(9));
  EXPECT_EQ(t.EventsInFlight(), 0);
}

}  // namespace
}  // namespace ferry::capture
