#include "common/server_wait.h"

#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>

#include "common/duration.h"
#include "common/pg.h"
#include "common/signals.h"

namespace ferry {

namespace {

using Clock = std::chrono::steady_clock;

// A wait looks at the clock and for a stop request this often.
constexpr int kSliceMs = 200;
// After a stop request, how long the server still has to answer.
constexpr auto kStopGrace = std::chrono::seconds(2);

std::atomic<int64_t> g_stall_timeout_ms{5 * 60 * 1000};
std::mutex g_flag_mu;
std::string g_flag;  // guarded by g_flag_mu

std::string StallFlag() {
  std::lock_guard<std::mutex> lock(g_flag_mu);
  return g_flag;
}

}  // namespace

void SetStallTimeout(std::chrono::milliseconds timeout, const std::string& flag) {
  g_stall_timeout_ms = timeout.count();
  std::lock_guard<std::mutex> lock(g_flag_mu);
  g_flag = flag;
}

std::chrono::milliseconds StallTimeout() { return std::chrono::milliseconds(g_stall_timeout_ms.load()); }

Status ServerWait::Ready(bool want_write, const std::string& waiting_for) {
  const auto started = Clock::now();
  for (;;) {
    pollfd pfd{PQsocket(conn_), static_cast<short>(POLLIN | (want_write ? POLLOUT : 0)), 0};
    if (pfd.fd < 0) return Status::OK();  // gone: libpq says so when read
    int rc = poll(&pfd, 1, kSliceMs);
    if (rc < 0 && errno != EINTR) {
      return Status::Internal("poll on the connection to " + DescribeConn(conn_) + ": " + strerror(errno));
    }
    auto now = Clock::now();
    if (StopRequested()) {
      if (!stop_seen_) stop_seen_ = now;
      if (now - *stop_seen_ >= kStopGrace) {
        return GiveUp(Status::Aborted("stop requested while waiting for " + waiting_for + " on " +
                                      DescribeConn(conn_) + ": gave up after " + FormatDuration(kStopGrace) +
                                      "; what it did not commit is done again at the next start"));
      }
    }
    if (rc > 0) return Status::OK();
    auto stall = StallTimeout();
    if (stall.count() > 0 && now - started >= stall) {
      std::string flag = StallFlag();
      return GiveUp(Status::Unavailable(
          "PostgreSQL at " + DescribeConn(conn_) + " stopped answering: it sent and read nothing for " +
          FormatDuration(std::chrono::duration_cast<std::chrono::milliseconds>(now - started)) +
          " while ferry waited for " + waiting_for + " (stall timeout " + FormatDuration(stall) +
          (flag.empty() ? "" : ", " + flag) + "; raise it if single statements legitimately run longer)"));
    }
  }
}

Status ServerWait::GiveUp(Status why) {
  int pid = PQbackendPID(conn_);
  Status ended = TerminateBackend(conn_);
  if (ended.ok()) {
    spdlog::warn("giving up the connection to {}: ended its server process (PID {}), so that it cannot run what "
                 "it was sent later", DescribeConn(conn_), pid);
  } else {
    spdlog::warn("giving up the connection to {}: could not end its server process (PID {}): {}; should it "
                 "resume, it could still run what it was sent", DescribeConn(conn_), pid, ended.message());
  }
  // Nothing more is sent nor waited for on this connection, whatever its owner does next.
  shutdown(PQsocket(conn_), SHUT_RDWR);
  return why;
}

}  // namespace ferry
