// ReplicationStream: one logical replication session on the source
// (START_REPLICATION ... LOGICAL with pgoutput), in libpq's CopyBoth mode.
//
// Next() hands out raw CopyData messages (XLogData or keepalive; parse them with
// replication_messages.h); SendStatus() sends the standby status update that
// tells the server what is written and flushed, which is what moves the slot.
//
// Liveness: the stream is taken for dead when nothing at all (not even a
// keepalive) arrived for StreamOptions::silence_timeout of listening (time the
// caller spends outside Next does not count); halfway there it asks
// the server for a keepalive (a status update with reply requested), as
// PostgreSQL's own walreceiver does, so an idle but healthy source always
// answers in time. The connection is non-blocking: sending a status update
// never waits on a server that stopped reading.
//
// Messages are read in bursts: once everything sent was read (libpq's buffer
// and the socket both empty), the stream pauses for StreamOptions::gather_pause
// before it waits on the socket, so a busy stream costs a wakeup per burst,
// not one per message.
//
// The session's GUCs are fixed (DateStyle ISO, IntervalStyle postgres,
// extra_float_digits 3, bytea_output hex) so values arrive in one stable text
// form whatever the source's defaults.
//
// Thread-safety: one thread.
#pragma once

#include <libpq-fe.h>

#include <chrono>
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

// The snapshot's readers, also: their chunks (WHERE key > $1 AND key <= $2
// ORDER BY key LIMIT n) must walk the key's index in order. Without statistics
// (a table never analyzed) the planner takes a bounded range for fewer rows
// than the limit, and reads all of it through a bitmap and sorts it, for every
// chunk: a copy in parts then cost the source about twice the CPU. A plan
// these settings penalize costs over jit_above_cost, and JIT compiling takes
// longer than a chunk's read: off.
inline const std::string kSnapshotReadOptions =
    std::string(kTextOutputOptions) + " -c enable_sort=off -c enable_bitmapscan=off -c jit=off";

struct StreamOptions {
  std::string conninfo;
  std::string slot;
  std::string publication;
  Lsn start;  // 0/0: the slot's confirmed position
  // Silence after which the stream is dead. 0: max(2 x the server's
  // wal_sender_timeout, 60 s): by then the server has given the session up too
  // and released the slot.
  std::chrono::milliseconds silence_timeout{0};
  // Pause after the stream ran dry, before waiting on the socket, so that the
  // walsender's next messages are read together (see LetMessagesGather).
  std::chrono::microseconds gather_pause{500};
};

class ReplicationStream {
 public:
  static Result<std::unique_ptr<ReplicationStream>> Start(const StreamOptions& options);
  ~ReplicationStream();

  // The next CopyData message, or nullopt when none arrived within timeout_ms.
  // The view is valid until the next call. Unavailable when the connection is
  // lost, the server ends the stream, or it has been silent too long.
  Result<std::optional<std::string_view>> Next(int timeout_ms);
  Status SendStatus(Lsn written, Lsn flushed, bool reply_requested);
  // Inside a large transaction the walsender sends without a break (it
  // replays the transaction at its commit): dry spells pause half as long, so
  // that it does not block on a full socket meanwhile.
  void set_in_large_transaction(bool large) { in_large_transaction_ = large; }

 private:
  using Clock = std::chrono::steady_clock;
  ReplicationStream(PgConn conn, std::chrono::milliseconds silence_timeout, Lsn start,
                    std::chrono::microseconds gather_pause)
      : conn_(std::move(conn)), silence_timeout_(silence_timeout), written_(start), flushed_(start),
        gather_pause_(gather_pause) {}
  Result<std::optional<std::string_view>> Receive(int timeout_ms);
  Status WaitReadable(int timeout_ms);
  // Once the stream ran dry: a short pause before waiting on the socket.
  void LetMessagesGather();
  // Unavailable past the silence timeout; asks for a keepalive halfway.
  Status CheckSilence();
  void FreeBuffer();

  PgConn conn_;
  char* buffer_ = nullptr;
  std::chrono::milliseconds silence_timeout_;
  Clock::time_point last_heard_ = Clock::now();  // the last byte from the server
  Clock::time_point last_left_ = last_heard_;    // when Next last returned
  bool pinged_ = false;                          // a keepalive was asked for since
  Lsn written_, flushed_;                        // as last sent to the server
  std::chrono::microseconds gather_pause_;
  bool in_large_transaction_ = false;
  bool drained_ = true;  // nothing was read since the last pause
};

// max(2 x wal_sender_timeout, 60 s), from the session's wal_sender_timeout in
// milliseconds (0: the server never times out).
std::chrono::milliseconds DefaultSilenceTimeout(int64_t wal_sender_timeout_ms);

}  // namespace ferry::capture
