#include "capture/produced_tail.h"

namespace ferry::capture {

void ProducedTail::Add(int64_t bytes) {
  cumulative_.push_back((cumulative_.empty() ? base_ : cumulative_.back()) + bytes);
  if (cumulative_.size() > window_) {
    base_ = cumulative_.front();
    cumulative_.pop_front();
  }
}

int64_t ProducedTail::LastBytes(int64_t n) const {
  if (n <= 0 || cumulative_.empty()) return 0;
  const auto size = static_cast<int64_t>(cumulative_.size());
  if (n < size) return cumulative_.back() - cumulative_[static_cast<size_t>(size - 1 - n)];
  const int64_t window_bytes = cumulative_.back() - base_;
  return window_bytes + (n - size) * (window_bytes / size);
}

}  // namespace ferry::capture
