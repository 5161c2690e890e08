// SlotMetrics: keeps the slot gauges of common/ferry_metrics.h (WAL retained,
// capture lag bytes) current by querying pg_replication_slots every few
// seconds over its own connection. Failures are logged and retried later:
// metrics never stop capture.
//
// Thread-safety: one thread (capture's loop).
#pragma once

#include <chrono>
#include <string>

#include "common/pg.h"

namespace ferry::capture {

class SlotMetrics {
 public:
  SlotMetrics(std::string conninfo, std::string slot,
              std::chrono::milliseconds interval = std::chrono::seconds(5))
      : conninfo_(std::move(conninfo)), slot_(std::move(slot)), interval_(interval) {}
  // Queries when the interval has passed since the last attempt.
  void MaybeUpdate();

 private:
  std::string conninfo_, slot_;
  std::chrono::milliseconds interval_;
  std::chrono::steady_clock::time_point last_{};
  PgConn conn_;
};

}  // namespace ferry::capture
