// Pipeline: sends a run of extended-protocol commands in libpq pipeline mode,
// ended by one Sync, and reads every result back in order.
//
// The connection is switched to non-blocking mode for the run and results are
// read while commands are still being sent: with a long batch, waiting to read
// until everything is sent would deadlock once the server's output (one short
// result per command) fills the socket while it waits for us to read.
//
// Commands are numbered from 0 in the order sent. After the first failed
// command the server skips the rest up to the Sync (libpq reports them as
// PGRES_PIPELINE_ABORTED), so every command before the failure succeeded and
// none after it ran.
//
// Usage:
//   Pipeline p(conn);
//   FERRY_RETURN_IF_ERROR(p.Enter());
//   p.SendQuery("BEGIN"); p.SendPrepare(...); p.SendQueryPrepared(...); ...
//   FERRY_ASSIGN_OR_RETURN(auto failure, p.Finish());
//
// A lost connection is Unavailable from any call; the connection is then unusable.
//
// Waiting for results goes through ServerWait (common/server_wait.h): a target
// that sends and reads nothing for the stall timeout while results are
// outstanding (`ferry apply --target-stall-timeout`) is given up, its server
// process ended so that it can never commit the batch later, and Finish returns
// Unavailable; a stop request gives the batch 2 s more, then Aborted. Either
// way nothing of the batch is recorded as applied; the caller drops the connection.
// Thread-safety: none.
#pragma once

#include <libpq-fe.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/server_wait.h"
#include "common/status.h"

namespace ferry::apply {

struct PipelineFailure {
  size_t command = 0;    // which command failed
  std::string message;   // the server's error message
  std::string sqlstate;  // e.g. "23505"; empty when the server sent none
  bool connection_lost = false;
};

class Pipeline {
 public:
  explicit Pipeline(PGconn* conn) : conn_(conn), wait_(conn) {}
  Pipeline(const Pipeline&) = delete;
  Pipeline& operator=(const Pipeline&) = delete;
  // Leaves pipeline mode if Finish did not (only possible after an error).
  ~Pipeline();

  // REQUIRES: the connection is idle and not in pipeline mode.
  Status Enter();
  // A statement without parameters (BEGIN, COMMIT).
  Status SendQuery(const char* sql);
  // Parameter types are OIDs (0: let the server infer it).
  Status SendPrepare(const std::string& name, const std::string& sql,
                     const std::vector<uint32_t>& param_types);
  // Parameters; nullptr is NULL. Text unless `formats` says 1 (binary), in
  // which case `lengths` gives the byte length.
  Status SendQueryPrepared(const std::string& name, const std::vector<const char*>& params,
                           const std::vector<int>& lengths = {}, const std::vector<int>& formats = {});
  // Sends the Sync, reads all results, leaves pipeline mode. nullopt when every
  // command succeeded, else the first failure.
  Result<std::optional<PipelineFailure>> Finish();
  // Called with each command's number and its rows (PGRES_TUPLES_OK results),
  // as they are read; the result is freed after the call.
  void OnRows(std::function<void(size_t command, const PGresult* rows)> handler) {
    on_rows_ = std::move(handler);
  }
  // The first failure read so far (commands after it are skipped by the server).
  const std::optional<PipelineFailure>& failure() const { return failure_; }
  // Commands whose results have all been read: numbers below it are done.
  size_t completed() const { return done_; }

 private:
  Status AfterSend(int sent_ok);
  // Flushes what is queued and reads what has arrived; with `wait`, first
  // blocks until the socket can make progress.
  Status Pump(bool wait);
  void ReadAvailable();
  Status Lost(const std::string& doing) const;
  void Leave();

  PGconn* conn_;
  bool in_pipeline_ = false;
  bool synced_ = false;
  size_t sent_ = 0;  // commands sent, the Sync included
  size_t done_ = 0;  // commands whose results have all been read
  std::optional<PipelineFailure> failure_;
  ServerWait wait_;
  std::function<void(size_t, const PGresult*)> on_rows_;
};

}  // namespace ferry::apply
