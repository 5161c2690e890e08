// ReplicationStream: one logical replication session on the source
// (START_REPLICATION ... LOGICAL with pgoutput), in libpq's CopyBoth mode.
//
// Next() hands out raw CopyData messages (XLogData or keepalive; parse them with
// replication_messages.h); SendStatus() sends the standby status update that
// tells the server what is written and flushed, which is what moves the slot.
//
// The session's GUCs are fixed (DateStyle ISO, IntervalStyle postgres,
// extra_float_digits 3, bytea_output hex) so values arrive in one stable text
// form whatever the source's defaults.
//
// Thread-safety: one thread.
#pragma once

#include <libpq-fe.h>

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/lsn.h"
#include "common/pg.h"
#include "common/status.h"

namespace ferry::capture {

// Session settings that fix the text form of values (dates, intervals, floats,
// bytea), used for every source connection whose values become events.
inline constexpr char kTextOutputOptions[] =
    "-c datestyle=ISO -c intervalstyle=postgres -c extra_float_digits=3 -c bytea_output=hex";

struct StreamOptions {
  std::string conninfo;
  std::string slot;
  std::string publication;
  Lsn start;  // 0/0: the slot's confirmed position
};

class ReplicationStream {
 public:
  static Result<std::unique_ptr<ReplicationStream>> Start(const StreamOptions& options);
  ~ReplicationStream();

  // The next CopyData message, or nullopt when none arrived within timeout_ms.
  // The view is valid until the next call. Unavailable when the connection is
  // lost or the server ends the stream.
  Result<std::optional<std::string_view>> Next(int timeout_ms);
  Status SendStatus(Lsn written, Lsn flushed, bool reply_requested);

 private:
  explicit ReplicationStream(PgConn conn) : conn_(std::move(conn)) {}
  Status WaitReadable(int timeout_ms);
  void FreeBuffer();

  PgConn conn_;
  char* buffer_ = nullptr;
};

}  // namespace ferry::capture
