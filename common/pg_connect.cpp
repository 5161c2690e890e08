// PgConn::Connect, and how a failed connection is classified.
//
// A refusal that needs a person (wrong or missing password, unknown role or
// database, a role without LOGIN, a pg_hba.conf rejection) is InvalidArgument;
// a server that is away for now (unreachable, starting up, shutting down, out of
// connection slots) is Unavailable and retried by the stage's loop.
//
// libpq reports no SQLSTATE for a failed connection, and the server's text is in
// the server's lc_messages language, so neither is matched as text. What is
// relied on instead is libpq's formatting, which is not translated: a message
// the server sent reads "SEVERITY:  text", and with PQERRORS_VERBOSE
// "SEVERITY:  SQLSTATE: text". So when the ordinary attempt fails with a message
// from the server, a second attempt with verbose errors reads the SQLSTATE, and
// PgErrorStatus's table decides. (Verbosity can only be set on a connection made
// asynchronously; the first attempt stays libpq's blocking one, so that
// connect_timeout and several hosts behave exactly as libpq documents.) A
// missing password is told by PQconnectionNeedsPassword.
//
// Every connection also gets bounds on waiting for a server that went silent
// (kConnectionDefaults), unless the connection string sets them.
//
// TerminateBackend connects a second time, to the same server, to end the
// process behind a connection that stopped answering.
#include <poll.h>

#include <chrono>
#include <cstdlib>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/pg.h"
#include "common/signals.h"

namespace ferry {

namespace {

using Clock = std::chrono::steady_clock;
using OwnedConn = std::unique_ptr<PGconn, decltype(&PQfinish)>;

// How long the second, diagnosing attempt may take.
constexpr auto kDiagnoseTimeout = std::chrono::seconds(10);

// libpq settings that bound how long a dead or silent server can hold a
// connection: a connection attempt gives up after 10 s (per address); an idle
// TCP connection is probed after 30 s, every 10 s, and dropped after 3 missed
// probes (~60 s, where the kernel default is ~2 h 11 min); data the server has
// not acknowledged for 60 s drops it too. They come before the connection
// string, so the string's own values win. (Unix-domain sockets ignore all but
// connect_timeout.)
constexpr std::pair<const char*, const char*> kConnectionDefaults[] = {
    {"connect_timeout", "10"},   {"keepalives", "1"},       {"keepalives_idle", "30"},
    {"keepalives_interval", "10"}, {"keepalives_count", "3"}, {"tcp_user_timeout", "60000"},
};

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// Keywords and values for libpq, in order: a later one overrides an earlier one.
class ConnectParams {
 public:
  void Add(std::string key, std::string value) {
    pairs_.emplace_back(std::move(key), std::move(value));
  }
  // With `expand`, the first "dbname" is expanded when it is a connection string.
  PGconn* ConnectBlocking(bool expand = true) const {
    Arrays a(pairs_);
    return PQconnectdbParams(a.keys.data(), a.values.data(), expand ? 1 : 0);
  }
  PGconn* Start() const {
    Arrays a(pairs_);
    return PQconnectStartParams(a.keys.data(), a.values.data(), /*expand_dbname=*/1);
  }

 private:
  struct Arrays {
    explicit Arrays(const std::vector<std::pair<std::string, std::string>>& pairs) {
      for (const auto& [k, v] : pairs) {
        keys.push_back(k.c_str());
        values.push_back(v.c_str());
      }
      keys.push_back(nullptr);
      values.push_back(nullptr);
    }
    std::vector<const char*> keys, values;
  };
  std::vector<std::pair<std::string, std::string>> pairs_;
};

// libpq writes a server's error as "SEVERITY:  text"; its own errors (refused,
// timed out, no such host) have no double space after a colon.
bool HasServerError(std::string_view message) { return message.find(":  ") != std::string_view::npos; }

bool IsSqlState(std::string_view s) {
  if (s.size() != 5) return false;
  for (char ch : s) {
    if (!((ch >= '0' && ch <= '9') || (ch >= 'A' && ch <= 'Z'))) return false;
  }
  return true;
}

// The SQLSTATE of a PQERRORS_VERBOSE message: the last "SEVERITY:  XXXXX: " in
// it (with several hosts, each refusal is in the message, the last one decides).
std::string SqlStateIn(std::string_view message) {
  std::string found;
  for (size_t at = message.find(":  "); at != std::string_view::npos; at = message.find(":  ", at + 1)) {
    std::string_view rest = message.substr(at + 3);
    if (rest.size() >= 7 && IsSqlState(rest.substr(0, 5)) && rest.substr(5, 2) == ": ") {
      found = std::string(rest.substr(0, 5));
    }
  }
  return found;
}

// The verbose message without its "LOCATION:" lines (server source positions).
std::string WithoutLocation(const std::string& message) {
  std::string out;
  size_t start = 0;
  while (start < message.size()) {
    size_t end = message.find('\n', start);
    if (end == std::string::npos) end = message.size();
    std::string_view line(message.data() + start, end - start);
    if (line.substr(0, 9) != "LOCATION:") out += std::string(line) + "\n";
    start = end + 1;
  }
  return Trim(out);
}

// Waits until `conn`'s socket is readable (or writable); false at the
// deadline, or, with `until_stop`, once a stop is requested.
bool WaitSocket(PGconn* conn, bool for_read, Clock::time_point deadline, bool until_stop) {
  while (Clock::now() < deadline && !(until_stop && StopRequested())) {
    pollfd p{PQsocket(conn), static_cast<short>(for_read ? POLLIN : POLLOUT), 0};
    if (p.fd < 0) return true;               // libpq reports why
    if (poll(&p, 1, 100) != 0) return true;  // ready, an error, or EINTR: ask libpq again
  }
  return false;
}

// One more attempt, asynchronous, with the SQLSTATE in any error message.
OwnedConn ConnectVerbose(const ConnectParams& params) {
  OwnedConn conn(params.Start(), &PQfinish);
  if (!conn || PQstatus(conn.get()) == CONNECTION_BAD) return conn;
  PQsetErrorVerbosity(conn.get(), PQERRORS_VERBOSE);
  auto deadline = Clock::now() + kDiagnoseTimeout;
  PostgresPollingStatusType st = PGRES_POLLING_WRITING;
  while (st != PGRES_POLLING_OK && st != PGRES_POLLING_FAILED &&
         WaitSocket(conn.get(), st == PGRES_POLLING_READING, deadline, /*until_stop=*/true)) {
    st = PQconnectPoll(conn.get());
  }
  return conn;
}

Status NeedsPassword(const std::string& where, const std::string& message) {
  return Status::InvalidArgument(
      "cannot connect to PostgreSQL (" + where + "): " + message +
      ": the server asks for a password and none was given: add password=... to the connection string, or "
      "set PGPASSWORD or a ~/.pgpass entry (not retried)");
}

}  // namespace

Result<PgConn> PgConn::Connect(const std::string& conninfo,
                               const std::map<std::string, std::string>& overrides) {
  char* err = nullptr;
  PQconninfoOption* parsed = PQconninfoParse(conninfo.c_str(), &err);
  if (parsed == nullptr) {
    std::string msg = err ? Trim(err) : "out of memory";
    PQfreemem(err);
    return Status::InvalidArgument("malformed connection string: " + msg);
  }
  PQconninfoFree(parsed);

  ConnectParams params;
  for (const auto& [key, value] : kConnectionDefaults) {
    // libpq reads PGCONNECT_TIMEOUT only when nothing else sets connect_timeout.
    if (std::string_view(key) == "connect_timeout" && std::getenv("PGCONNECT_TIMEOUT") != nullptr) continue;
    params.Add(key, value);
  }
  params.Add("dbname", conninfo);
  for (const auto& [k, v] : overrides) params.Add(k, v);
  PgConn c;
  c.conn_.reset(params.ConnectBlocking());
  if (!c.conn_) return Status::Unavailable("libpq: out of memory");
  if (PQstatus(c.get()) == CONNECTION_OK) return c;

  std::string where = c.Describe();
  std::string message = c.LastError();
  if (PQconnectionNeedsPassword(c.get())) return NeedsPassword(where, message);
  if (!HasServerError(message)) {
    return Status::Unavailable("cannot connect to PostgreSQL (" + where + "): " + message);
  }
  // The server answered with a refusal: ask again to learn its SQLSTATE.
  OwnedConn again = ConnectVerbose(params);
  if (again && PQstatus(again.get()) == CONNECTION_OK) {  // it lets us in now
    PQsetErrorVerbosity(again.get(), PQERRORS_DEFAULT);
    c.conn_.reset(again.release());
    return c;
  }
  std::string verbose = again ? Trim(PQerrorMessage(again.get())) : "";
  if (again && PQconnectionNeedsPassword(again.get())) return NeedsPassword(where, message);
  std::string sqlstate = SqlStateIn(verbose);
  if (sqlstate.empty()) {
    return Status::Unavailable("cannot connect to PostgreSQL (" + where + "): " + message);
  }
  Status st = PgErrorStatus(sqlstate, /*connection_lost=*/false,
                            "cannot connect to PostgreSQL (" + where + "): " + WithoutLocation(verbose));
  if (st.code() != Status::Code::kInvalidArgument) return st;
  return Status::InvalidArgument(st.message() +
                                 "; fix the connection string, or the server's roles, databases or "
                                 "pg_hba.conf (not retried)");
}

namespace {

// The very server `stuck` talks to (not another host of a list), as the same
// user: what a second, short connection to end its process needs.
ConnectParams SameServer(PGconn* stuck) {
  ConnectParams params;
  PQconninfoOption* options = PQconninfo(stuck);
  for (PQconninfoOption* o = options; o != nullptr && o->keyword != nullptr; ++o) {
    std::string_view key = o->keyword;
    if (o->val == nullptr || o->val[0] == '\0' || key == "host" || key == "hostaddr" || key == "port" ||
        key == "replication" || key == "target_session_attrs" || key == "options" || key == "application_name") {
      continue;
    }
    params.Add(o->keyword, o->val);
  }
  PQconninfoFree(options);
  params.Add("host", PQhost(stuck));
  params.Add("port", PQport(stuck));
  if (const char* addr = PQhostaddr(stuck); addr != nullptr && addr[0] != '\0') params.Add("hostaddr", addr);
  params.Add("connect_timeout", "5");
  params.Add("application_name", "ferry-cleanup");
  return params;
}

// Runs `sql` with text parameters, waiting at most 5 s for the answer (and not
// cut short by a stop request: ending a process is part of stopping).
Status RunBounded(PGconn* conn, const char* sql, const std::vector<const char*>& values) {
  if (PQsendQueryParams(conn, sql, static_cast<int>(values.size()), nullptr, values.data(), nullptr, nullptr,
                        0) != 1) {
    return Status::Unavailable(Trim(PQerrorMessage(conn)));
  }
  auto deadline = Clock::now() + std::chrono::seconds(5);
  while (PQisBusy(conn)) {
    if (!WaitSocket(conn, /*for_read=*/true, deadline, /*until_stop=*/false)) {
      return Status::Unavailable("no answer within 5 s");
    }
    if (PQconsumeInput(conn) != 1) break;
  }
  Status st;
  for (PGresult* r; (r = PQgetResult(conn)) != nullptr; PQclear(r)) {
    if (PQresultStatus(r) != PGRES_TUPLES_OK && st.ok()) st = Status::Unavailable(Trim(PQresultErrorMessage(r)));
  }
  return st;
}

}  // namespace

Status TerminateBackend(PGconn* stuck) {
  int pid = PQbackendPID(stuck);
  if (pid <= 0) return Status::OK();
  std::string what = "ending backend " + std::to_string(pid) + " of " + DescribeConn(stuck);
  OwnedConn conn(SameServer(stuck).ConnectBlocking(/*expand=*/false), &PQfinish);
  if (!conn || PQstatus(conn.get()) != CONNECTION_OK) {
    return Status::Unavailable(what + ": " + (conn ? Trim(PQerrorMessage(conn.get())) : "out of memory"));
  }
  // Only while the process is still ours: same user and application name.
  const char* app = PQparameterStatus(stuck, "application_name");
  std::string pid_text = std::to_string(pid);
  return RunBounded(conn.get(),
                    "SELECT pg_terminate_backend(pid) FROM pg_catalog.pg_stat_activity "
                    "WHERE pid = $1 AND usename = current_user AND application_name = $2",
                    {pid_text.c_str(), app != nullptr ? app : ""})
      .WithContext(what);
}

}  // namespace ferry
