// ServerWait: how ferry waits for a PostgreSQL server's answer on a libpq
// connection (PgConn::Exec, apply's pipeline), bounded by progress rather than
// by time.
//
// A statement may run as long as it needs, but when the server sends nothing
// and reads nothing for StallTimeout() while ferry waits for its answer (a
// frozen backend, a dead proxy, a NAT path that still answers TCP probes), the
// wait gives up: Unavailable "... stopped answering", which every stage
// retries on a new connection. A stop request (common/signals.h) gives the
// server 2 s more, then the wait gives up: Aborted. Giving up ends the
// connection's server process (TerminateBackend: should it resume, it could
// otherwise still run, and commit, what it was sent) and shuts the socket
// down: the connection is unusable afterwards, and the caller drops it.
//
// Thread-safety: a ServerWait serves one connection on one thread. The stall
// timeout is process-wide.
#pragma once

#include <libpq-fe.h>

#include <chrono>
#include <optional>
#include <string>

#include "common/status.h"

namespace ferry {

// Default 5 min; 0 waits forever. `flag` names the option that sets it, for
// messages (e.g. "--target-stall-timeout"). Set once at start.
void SetStallTimeout(std::chrono::milliseconds timeout, const std::string& flag = "");
std::chrono::milliseconds StallTimeout();

class ServerWait {
 public:
  explicit ServerWait(PGconn* conn) : conn_(conn) {}

  // Blocks until the socket is readable (or writable, with `want_write`): OK,
  // and the caller reads or writes. `waiting_for` says what for, in messages
  // ("the answer to 'SELECT ...'").
  Status Ready(bool want_write, const std::string& waiting_for);

 private:
  Status GiveUp(Status why);

  PGconn* conn_;
  std::optional<std::chrono::steady_clock::time_point> stop_seen_;
};

}  // namespace ferry
