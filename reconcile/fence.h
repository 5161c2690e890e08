// Fencing the source for cutover: application roles can no longer write to the
// source database, while replication and the role running ferry go on.
//
// FenceSource, for each fenced role, on the connection's database:
//   ALTER ROLE r IN DATABASE db SET default_transaction_read_only = on
//   ALTER ROLE r IN DATABASE db SET ferry.fenced = on   (the marker Unfence finds)
// then terminates the role's client backends on that database, so open
// transactions end and reconnecting clients start read-only. Walsenders
// (capture's replication connection) are a different backend type and are
// never terminated; neither is the calling session.
//
// Default roles: every role that can log in, except superusers, roles with
// REPLICATION, pg_* roles and the current user. The fence stops well-behaved
// clients: a client that explicitly runs SET default_transaction_read_only =
// off (or BEGIN READ WRITE) can still write; so can superusers.
//
// UnfenceSource resets both settings for every role carrying the marker on
// this database (whatever options fenced them) and terminates nothing.
//
// REQUIRES: a superuser (or CREATEROLE with the privilege to alter those
// roles' settings) on `source`, outside a transaction.
// Thread-safety: functions; the connection is used by the calling thread.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "common/pg.h"
#include "common/status.h"

namespace ferry::reconcile {

struct FenceOptions {
  // Roles to fence; empty (default): every application role (see above).
  std::vector<std::string> roles;
  // Terminate the fenced roles' sessions on this database. Default true.
  bool terminate_sessions = true;
  // How long to wait for each terminated backend to exit. Default 5 s.
  std::chrono::milliseconds terminate_wait{5000};
};

struct FenceResult {
  std::vector<std::string> roles;  // fenced (or unfenced), sorted
  int terminated_sessions = 0;
};

Status FenceSource(PgConn& source, const FenceOptions& options, FenceResult* result = nullptr);
Status UnfenceSource(PgConn& source, FenceResult* result = nullptr);

}  // namespace ferry::reconcile
