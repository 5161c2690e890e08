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
#include <poll.h>

#include <chrono>
#include <cstdlib>
#include <memory>
#include <utility>

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
  // The first "dbname" is expanded when it is a connection string.
  PGconn* ConnectBlocking() const {
    Arrays a(pairs_);
    return PQconnectdbParams(a.keys.data(), a.values.data(), /*expand_dbname=*/1);
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

// Waits until libpq's connection state machine can go on; false at the
// deadline or when a stop is requested.
bool WaitToPoll(PGconn* conn, PostgresPollingStatusType want, Clock::time_point deadline) {
  while (Clock::now() < deadline && !StopRequested()) {
    pollfd p{PQsocket(conn), static_cast<short>(want == PGRES_POLLING_READING ? POLLIN : POLLOUT), 0};
    if (p.fd < 0) return true;  // PQconnectPoll reports why
    if (poll(&p, 1, 100) != 0) return true;  // ready, an error, or EINTR: poll libpq again
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
  while (st != PGRES_POLLING_OK && st != PGRES_POLLING_FAILED && WaitToPoll(conn.get(), st, deadline)) {
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

}  // namespace ferry
