// The snapshot queue's bounds: what waits between the reading workers and the
// producer is bounded in bytes as well as in chunks.
#include "capture/snapshot_queue.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

namespace ferry::capture {
namespace {

using std::chrono::milliseconds;

// Pushes `n` items of `bytes` each from another thread; counts those that went in.
struct Pusher {
  Pusher(ByteBoundedQueue<int>& q, int n, size_t bytes) {
    thread = std::thread([&q, n, bytes, this] {
      for (int i = 0; i < n; ++i) {
        if (!q.Push(i, bytes)) return;
        ++pushed;
      }
    });
  }
  ~Pusher() { thread.join(); }
  std::atomic<int> pushed{0};
  std::thread thread;
};

TEST(ByteBoundedQueueTest, PushWaitsOnceTheBytesWouldPassTheBound) {
  ByteBoundedQueue<int> q(/*capacity=*/100, /*max_bytes=*/1000);
  Pusher p(q, 10, 300);
  std::this_thread::sleep_for(milliseconds(200));
  EXPECT_EQ(p.pushed, 3) << "a fourth 300-byte item would pass 1000 bytes";
  EXPECT_EQ(q.bytes(), 900u);
  ASSERT_EQ(q.Pop(milliseconds(100)), 0);
  std::this_thread::sleep_for(milliseconds(200));
  EXPECT_EQ(p.pushed, 4);
  EXPECT_LE(q.bytes(), 1000u);
  for (int i = 1; i < 10; ++i) ASSERT_EQ(q.Pop(milliseconds(1000)), i);
  EXPECT_EQ(q.bytes(), 0u);
}

TEST(ByteBoundedQueueTest, AnItemLargerThanTheBoundWaitsAloneAndStillGoesIn) {
  ByteBoundedQueue<int> q(100, 1000);
  ASSERT_TRUE(q.Push(1, 10));
  Pusher p(q, 2, 5000);
  std::this_thread::sleep_for(milliseconds(200));
  EXPECT_EQ(p.pushed, 0) << "it waits while anything else is queued";
  ASSERT_EQ(q.Pop(milliseconds(100)), 1);
  ASSERT_EQ(q.Pop(milliseconds(1000)), 0);
  ASSERT_EQ(q.Pop(milliseconds(1000)), 1);
}

TEST(ByteBoundedQueueTest, CountBoundsSmallItemsAndCloseReleasesBothEnds) {
  ByteBoundedQueue<int> q(/*capacity=*/2, /*max_bytes=*/1 << 20);
  Pusher p(q, 5, 1);
  std::this_thread::sleep_for(milliseconds(200));
  EXPECT_EQ(p.pushed, 2);
  q.Close();
  std::this_thread::sleep_for(milliseconds(100));
  EXPECT_EQ(p.pushed, 2) << "a closed queue takes nothing more";
}

}  // namespace
}  // namespace ferry::capture
