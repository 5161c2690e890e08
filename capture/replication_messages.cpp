#include "capture/replication_messages.h"

#include <chrono>
#include <cstdio>

#include "capture/pgoutput_decoder.h"
#include "common/byte_reader.h"

namespace ferry::capture {

namespace {

Result<XLogData> ParseXLogData(ByteReader& r) {
  XLogData m;
  FERRY_ASSIGN_OR_RETURN(uint64_t start, r.ReadU64());
  FERRY_ASSIGN_OR_RETURN(uint64_t end, r.ReadU64());
  FERRY_ASSIGN_OR_RETURN(m.send_time, r.ReadI64());
  m.wal_start = Lsn(start);
  m.wal_end = Lsn(end);
  m.payload = r.ReadRest();
  return m;
}

Result<PrimaryKeepalive> ParseKeepalive(ByteReader& r) {
  PrimaryKeepalive m;
  FERRY_ASSIGN_OR_RETURN(uint64_t end, r.ReadU64());
  FERRY_ASSIGN_OR_RETURN(m.send_time, r.ReadI64());
  FERRY_ASSIGN_OR_RETURN(uint8_t reply, r.ReadU8());
  if (!r.AtEnd()) {
    return Status::Corruption(std::to_string(r.remaining()) + " trailing bytes at offset " +
                              std::to_string(r.position()));
  }
  m.wal_end = Lsn(end);
  m.reply_requested = reply != 0;
  return m;
}

// Wraps a parsed message into the variant, naming the message on error.
template <typename M>
Result<ReplicationMessage> Wrap(const char* name, Result<M> parsed) {
  if (!parsed.ok()) {
    return parsed.status().WithContext(std::string("parsing replication ") + name + " message");
  }
  return ReplicationMessage(std::move(parsed).value());
}


void AppendBigEndian(std::string& out, uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

}  // namespace

Result<ReplicationMessage> ParseReplicationMessage(std::string_view copy_data) {
  ByteReader r(copy_data);
  auto type = r.ReadU8();
  if (!type.ok()) return Status::Corruption("empty replication CopyData message");
  switch (*type) {
    case 'w': return Wrap("XLogData", ParseXLogData(r));
    case 'k': return Wrap("keepalive", ParseKeepalive(r));
    default:
      return Status::Corruption("unknown replication message type " + DescribeByte(*type) +
                                " (expected 'w' XLogData or 'k' keepalive)");
  }
}

std::string BuildStandbyStatusUpdate(Lsn written, Lsn flushed, Lsn applied, int64_t now_pg_micros,
                                     bool reply_requested) {
  std::string out;
  out.reserve(34);
  out.push_back('r');
  AppendBigEndian(out, written.value(), 8);
  AppendBigEndian(out, flushed.value(), 8);
  AppendBigEndian(out, applied.value(), 8);
  AppendBigEndian(out, static_cast<uint64_t>(now_pg_micros), 8);
  out.push_back(reply_requested ? 1 : 0);
  return out;
}

int64_t NowPgMicros() {
  auto since_unix = std::chrono::duration_cast<std::chrono::microseconds>(
      std::chrono::system_clock::now().time_since_epoch());
  return since_unix.count() - kPgEpochOffsetMicros;
}

}  // namespace ferry::capture
