// ProducedTail: how many bytes the last n messages produced to a topic hold.
//
// Flow control knows how many messages a consumer group has not read yet (the
// log end minus what the group read); those are the newest the topic holds.
// Their size is what the broker must keep for the group. An average over
// everything ever produced says nothing about them: after a million 100-byte
// events, three 1 MB rows would count as 300 bytes, and a broker that keeps
// 5 MiB per partition (the dev broker) would drop them unseen. The sizes of a
// window of the newest messages say it exactly; beyond the window, its
// average stands for the older ones.
//
// Messages still in the producer's queue count among the newest, so the
// estimate can be short by what is queued when small messages follow large
// ones; it errs the other way when large ones are the queued ones.
//
// Thread-safety: none; one thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>

namespace ferry::capture {

class ProducedTail {
 public:
  explicit ProducedTail(size_t window = size_t{1} << 18) : window_(window) {}

  void Add(int64_t bytes);
  // Bytes of the newest `n` messages; 0 when n <= 0 or nothing was produced.
  int64_t LastBytes(int64_t n) const;

 private:
  size_t window_;
  std::deque<int64_t> cumulative_;  // total bytes up to and including each message of the window
  int64_t base_ = 0;                // total bytes before the window's first message
};

}  // namespace ferry::capture
