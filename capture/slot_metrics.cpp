#include "capture/slot_metrics.h"

#include <spdlog/spdlog.h>

#include "capture/slot_state.h"
#include "common/ferry_metrics.h"

namespace ferry::capture {

void SlotMetrics::MaybeUpdate() {
  auto now = std::chrono::steady_clock::now();
  if (now - last_ < interval_) return;
  last_ = now;
  if (!conn_) {
    auto c = PgConn::Connect(conninfo_);
    if (!c.ok()) {
      spdlog::debug("slot metrics: {}", c.status().ToString());
      return;
    }
    conn_ = std::move(c).value();
  }
  auto s = QuerySlotState(conn_, slot_);
  if (!s.ok()) {
    spdlog::debug("slot metrics: {}", s.status().ToString());
    conn_ = PgConn();  // reconnect next time
    return;
  }
  metrics::SlotRetainedWalBytes().Set(static_cast<double>(s->retained_wal_bytes));
  metrics::CaptureLagBytes().Set(static_cast<double>(s->lag_bytes));
}

}  // namespace ferry::capture
