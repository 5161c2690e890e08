// CopyRun: a run of inserts (apply/run_statements.h) written with
// COPY .. FROM STDIN instead of INSERT .. SELECT FROM unnest(..) ON CONFLICT:
// the fast path for rows the target does not hold yet, the common case of an
// initial snapshot's chunks, a large transaction's inserts and a backlog of
// single-row inserts. COPY parses text rows straight into the table and
// inserts them in batches; the statement pays for arrays, a speculative
// insertion per row and a row back per event.
//
// COPY knows no ON CONFLICT, so the caller (TargetWriter) runs it inside a
// savepoint: when COPY succeeds no row existed (each one was inserted, no
// conflict to count under any rule); when the target refuses it (a row
// exists, or a value or constraint fails) the caller rolls back to the
// savepoint and sends the run's ordinary statement, which resolves and counts
// the conflicts under the rule, or fails with the error a user is used to.
// Either way the target ends as the statement alone would leave it.
//
// Only plain inserts and snapshot reads qualify (not the insert half of a key
// change), on tables without rules (INSERT follows them, COPY does not).
#pragma once

#include <libpq-fe.h>

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <span>
#include <string>

#include "apply/pipeline.h"
#include "apply/statement_parts.h"
#include "apply/table_catalog.h"
#include "common/server_wait.h"
#include "common/status.h"
#include "transport/change_event.pb.h"

namespace ferry::apply {

// COPY FROM STDIN on one connection (idle, not in pipeline mode, inside a
// transaction), non-blocking, every wait bounded by ServerWait. Errors are
// Unavailable when the connection is lost or stalled (it is unusable then);
// the server's refusal of the rows is a PipelineFailure value.
class CopyIn {
 public:
  explicit CopyIn(PGconn* conn);
  ~CopyIn();
  CopyIn(const CopyIn&) = delete;
  CopyIn& operator=(const CopyIn&) = delete;

  // Sends the COPY statement; the server's refusal, or nullopt once it waits for rows.
  Result<std::optional<PipelineFailure>> Start(const std::string& sql);
  // Hands rows to libpq, waiting while the socket is full; once the server
  // has refused them (its error ends the COPY early) the rest are dropped and
  // ended() is true.
  Status Put(std::string_view data);
  // Starts a thread that sends the rows Queue hands it, so that the server
  // parses rows while the caller works (libpq sends only when called, and a
  // socket holds little). At most `max_queued` bytes wait for it. Until
  // Finish or Cancel, only that thread uses the connection.
  void StartSender(size_t max_queued);
  // Hands rows to the sender (a copy; waits while max_queued bytes wait), or
  // without one, as Put. The sender's error, once it failed.
  Status Queue(std::string_view data);
  bool ended() const { return ended_; }
  // Ends the rows and reads the outcome: the refusal, or nullopt.
  Result<std::optional<PipelineFailure>> Finish();
  // Ends the COPY with an error, so that the server keeps none of its rows.
  Status Cancel();

 private:
  Status Lost(const std::string& doing) const;
  // libpq refuses more rows: the connection is gone, or the server's error
  // (read by Finish) ended the COPY.
  Status EndedByServer(const std::string& doing);
  // Sends the end of the rows: CopyDone, or CopyFail with `error`.
  Status EndRows(const char* error);
  // Sends what libpq holds, waiting while the socket is full.
  Status Flush();
  // The next result (nullptr: the command's results ended), waiting for it.
  Result<PGresult*> Next();
  // Reads `result` (an error, or nullptr when the server sent none) and what
  // follows it, up to the end of the command.
  Result<std::optional<PipelineFailure>> Refusal(PGresult* result);
  void SendLoop();
  // Lets the sender send what waits, and ends it: its error, if any.
  Status StopSender();

  struct Sender {
    std::thread thread;
    std::mutex mu;
    std::condition_variable cv;
    std::deque<std::string> pieces;
    size_t bytes = 0;
    size_t max_bytes = 0;
    bool closed = false;
    Status error;
  };
  std::unique_ptr<Sender> sender_;

  PGconn* conn_;
  ServerWait wait_;
  bool ended_ = false;
};

// Whether `next`, of operation `op`, can go into one COPY with `first`: the
// same table, the same columns in the same order (unlike a statement's run, a
// value's kind does not matter: COPY writes NULL as \N).
bool SameCopyShape(const ferry::v1::ChangeEvent& first, const ferry::v1::ChangeEvent& next, ferry::v1::Operation op);

// Whether `run` (one run of run_statements.h) may be written by COPY.
bool CopyFits(std::span<const ferry::v1::ChangeEvent* const> run, const TableInfo& table);

// `COPY "s"."t" ("a", "b") FROM STDIN`
std::string CopyStatement(const TableInfo& table, const Names& columns);

// Appends `e`'s row in COPY's text format: `columns`' values, tab-separated,
// \N for NULL, backslash escapes, a newline at the end.
void AppendCopyRow(std::string& out, const ferry::v1::ChangeEvent& e, const Names& columns);

// Runs `CopyStatement` on `conn` (idle, not in pipeline mode, inside a
// transaction) with the rows of `run`, sent in pieces of about a megabyte.
// Returns the server's refusal (nullopt: every row inserted); a lost or
// stalled connection is Unavailable (common/server_wait.h), and the
// connection is unusable then.
Result<std::optional<PipelineFailure>> CopyRows(PGconn* conn, std::span<const ferry::v1::ChangeEvent* const> run,
                                               const TableInfo& table, const Names& columns);

}  // namespace ferry::apply
