// Owned libpq handles and the few helpers every stage needs to talk SQL.
//
// PgConn owns a PGconn; PgResult owns a PGresult. Errors come back as Status,
// naming the server (host:port/db) and the statement that failed.
//
// Thread-safety: a PgConn is used by one thread at a time (libpq's rule).
#pragma once

#include <libpq-fe.h>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace ferry {

struct PgResultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using PgResult = std::unique_ptr<PGresult, PgResultDeleter>;

// A bound parameter in text form; nullopt is SQL NULL.
using PgParam = std::optional<std::string>;

class PgConn {
 public:
  // Connects with `conninfo` (key=value string or postgres:// URI); `overrides`
  // are added on top (e.g. {"replication","database"}). Fails with
  //  InvalidArgument (fix and rerun; never retry): a malformed conninfo, or the
  //    server refuses who we are or what we ask for: wrong or missing password,
  //    unknown role or database, a role without LOGIN or REPLICATION, pg_hba.conf
  //    (the server's message, with its SQLSTATE);
  //  Unavailable (retry later): the server cannot be reached, or is starting up,
  //    shutting down, or out of connection slots.
  // (common/pg_connect.cpp says how the two are told apart.)
  // Unless the connection string says otherwise, the connection has
  // connect_timeout=10, keepalives_idle=30, keepalives_interval=10,
  // keepalives_count=3 and tcp_user_timeout=60000 (see pg_connect.cpp).
  static Result<PgConn> Connect(const std::string& conninfo,
                                const std::map<std::string, std::string>& overrides = {});

  PgConn() = default;
  PGconn* get() const { return conn_.get(); }
  explicit operator bool() const { return conn_ != nullptr; }

  // Runs a statement without parameters; any result status other than
  // COMMAND_OK/TUPLES_OK is an error naming the statement. Waiting for the
  // answer is bounded by progress and by a stop request (common/server_wait.h):
  // a server that stopped answering is Unavailable, a stop Aborted, and the
  // connection is unusable after either.
  Result<PgResult> Exec(std::string_view sql) const;
  // Runs a statement with text parameters ($1, $2, ...).
  Result<PgResult> ExecParams(std::string_view sql, const std::vector<PgParam>& params) const;
  // Runs `COPY ... TO STDOUT` (text format) and hands each row to `row` as it
  // arrives: one line, its newline included, valid only during the call.
  // Waiting is bounded as Exec's. After an error, `row`'s included, the
  // connection is unusable.
  Status CopyOut(std::string_view sql, const std::function<Status(std::string_view)>& row) const;
  // First column of the first row, or NotFound when there is no row.
  Result<std::string> QueryScalar(std::string_view sql,
                                  const std::vector<PgParam>& params = {}) const;

  // "host:port/dbname" for messages.
  std::string Describe() const;
  // The server's last error text, trimmed.
  std::string LastError() const;

 private:
  struct Deleter {
    void operator()(PGconn* c) const { PQfinish(c); }
  };
  std::unique_ptr<PGconn, Deleter> conn_;
};

// "host:port/dbname" of a libpq connection, for messages.
std::string DescribeConn(const PGconn* conn);

// How a failed statement should be handled, from its SQLSTATE:
//  Unavailable (retry on a new connection): the connection was lost, no SQLSTATE
//    (libpq's own errors, e.g. "server closed the connection unexpectedly"),
//    classes 08 connection, 40 serialization/deadlock, 53 resources, 57 operator
//    intervention (shutdown, cancel), 58 system errors, and 55006 object in use
//    (a replication slot or origin another session holds for now);
//  InvalidArgument (needs a fix by a person): 22 data, 23 integrity, 28 invalid
//    authorization (password, role, pg_hba.conf), 3D unknown database, 42 syntax
//    or access (missing table, permission);
//  Internal: anything else.
Status PgErrorStatus(std::string_view sqlstate, bool connection_lost, std::string message);

// Ends the server process of a connection that stopped answering
// (pg_terminate_backend, from a short-lived second connection to the same
// server as the same user), so that it cannot run what it was sent should it
// ever resume. Waits at most ~10 s. Unavailable when it could not be done;
// OK when done or when the process is gone already.
Status TerminateBackend(PGconn* stuck);

// "name" with embedded quotes doubled: always safe as an SQL identifier.
// "a", "b", "c": identifiers quoted and comma-separated, for column lists.
std::string QuoteIdentList(const std::vector<std::string>& names);
std::string QuoteIdent(std::string_view name);
// "schema"."table"
std::string QualifiedName(std::string_view schema, std::string_view table);
// 'text' with embedded quotes doubled, for the few places libpq cannot bind
// (replication commands); never for row values.
std::string QuoteLiteral(std::string_view text);

}  // namespace ferry
