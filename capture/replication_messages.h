// The streaming replication protocol's CopyData framing, as a walsender sends
// it after START_REPLICATION (PostgreSQL 15 docs, "Streaming Replication
// Protocol"), and the one message ferry sends back:
//
//   XLogData:              'w' u64(dataStart) u64(walEnd) i64(sendTime) byte*(payload)
//   PrimaryKeepalive:      'k' u64(walEnd) i64(sendTime) u8(replyRequested)
//   StandbyStatusUpdate:   'r' u64(written) u64(flushed) u64(applied) i64(clock) u8(replyRequested)
//
// Integers are big-endian; times are microseconds since 2000-01-01 (PostgreSQL's
// epoch). For logical replication an XLogData payload is one pgoutput message
// (pgoutput_decoder.h). PostgreSQL 15 sends dataStart = walEnd = 0/0 for every
// message but the last one of a write (Relation, Type, and Begin when an Origin
// follows), and the message's LSN otherwise: do not take dataStart as a position
// of every message.
//
// Parsing goes through ByteReader: an unknown type byte, a truncated message,
// or bytes after a keepalive is a Corruption status, never a crash.
//
// Thread-safety: stateless functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

#include "common/lsn.h"
#include "common/status.h"

namespace ferry::capture {

struct XLogData {
  Lsn wal_start;  // dataStart: 0/0 for messages that are not the last of a write
  Lsn wal_end;
  int64_t send_time = 0;     // microseconds since 2000-01-01
  std::string_view payload;  // points into the parsed CopyData; may be empty
};

struct PrimaryKeepalive {
  Lsn wal_end;
  int64_t send_time = 0;  // microseconds since 2000-01-01
  // The server asks for a status update now; it drops the connection after
  // wal_sender_timeout without one.
  bool reply_requested = false;
};

using ReplicationMessage = std::variant<XLogData, PrimaryKeepalive>;

// Parses one CopyData message from the replication stream. XLogData's payload
// is a view into copy_data.
Result<ReplicationMessage> ParseReplicationMessage(std::string_view copy_data);

// The 34-byte standby status update ('r'). applied may be 0/0 (unknown).
std::string BuildStandbyStatusUpdate(Lsn written, Lsn flushed, Lsn applied, int64_t now_pg_micros,
                                     bool reply_requested);

// The current time in microseconds since 2000-01-01 (the system clock).
int64_t NowPgMicros();

}  // namespace ferry::capture
