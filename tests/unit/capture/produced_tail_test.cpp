#include "capture/produced_tail.h"

#include <gtest/gtest.h>

namespace ferry::capture {
namespace {

TEST(ProducedTailTest, NewestMessagesCountAtTheirOwnSize) {
  ProducedTail tail;
  EXPECT_EQ(tail.LastBytes(5), 0) << "nothing produced";
  for (int i = 0; i < 100000; ++i) tail.Add(100);
  for (int i = 0; i < 3; ++i) tail.Add(1 << 20);
  EXPECT_EQ(tail.LastBytes(0), 0);
  EXPECT_EQ(tail.LastBytes(3), 3 << 20) << "an average over all would say ~9 KB";
  EXPECT_EQ(tail.LastBytes(4), (3 << 20) + 100);
  EXPECT_EQ(tail.LastBytes(100003), 100 * 100000 + (3 << 20));
}

TEST(ProducedTailTest, BeyondTheWindowItsAverageStandsForTheOlderOnes) {
  ProducedTail tail(/*window=*/4);
  for (int64_t bytes : {1000, 1000, 10, 20, 30, 40}) tail.Add(bytes);
  EXPECT_EQ(tail.LastBytes(2), 70);
  EXPECT_EQ(tail.LastBytes(4), 100);
  EXPECT_EQ(tail.LastBytes(6), 100 + 2 * 25) << "the two oldest left the window";
}

}  // namespace
}  // namespace ferry::capture
