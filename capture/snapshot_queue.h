// ByteBoundedQueue: the snapshot copier's queue of chunks between its reading
// workers and its producing thread, bounded in items and in bytes.
//
// Push blocks while the queue is full: `capacity` items, or adding the item
// would pass `max_bytes`. An item larger than max_bytes alone waits until the
// queue is empty, then goes in (so progress never stops). Once closed, both
// ends give up: Push returns false, Pop nullopt.
//
// Thread-safety: every method from any thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>
#include <optional>
#include <utility>

namespace ferry::capture {

template <typename T>
class ByteBoundedQueue {
 public:
  ByteBoundedQueue(size_t capacity, size_t max_bytes) : capacity_(capacity), max_bytes_(max_bytes) {}

  bool Push(T item, size_t bytes) {
    std::unique_lock lock(mu_);
    not_full_.wait(lock, [&] {
      return closed_ || items_.empty() || (items_.size() < capacity_ && bytes_ + bytes <= max_bytes_);
    });
    if (closed_) return false;
    bytes_ += bytes;
    items_.emplace_back(std::move(item), bytes);
    not_empty_.notify_one();
    return true;
  }
  // Waits up to `wait` for an item.
  std::optional<T> Pop(std::chrono::milliseconds wait) {
    std::unique_lock lock(mu_);
    if (items_.empty()) {
      not_empty_.wait_for(lock, wait);
      if (items_.empty()) return std::nullopt;
    }
    auto [item, bytes] = std::move(items_.front());
    items_.pop_front();
    bytes_ -= bytes;
    not_full_.notify_all();
    return std::move(item);
  }
  void Close() {
    std::lock_guard lock(mu_);
    closed_ = true;
    not_full_.notify_all();
    not_empty_.notify_all();
  }
  size_t bytes() const {
    std::lock_guard lock(mu_);
    return bytes_;
  }

 private:
  const size_t capacity_;
  const size_t max_bytes_;
  mutable std::mutex mu_;
  std::condition_variable not_full_, not_empty_;
  std::deque<std::pair<T, size_t>> items_;
  size_t bytes_ = 0;
  bool closed_ = false;
};

}  // namespace ferry::capture
