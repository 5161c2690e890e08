// Decoder for PostgreSQL's pgoutput logical replication protocol, version 1
// (https://www.postgresql.org/docs/15/protocol-logicalrep-message-formats.html).
//
// PgOutputDecoder::Decode parses one message (the payload of one XLogData) and
// calls the matching PgOutputHandler method, LevelDB WriteBatch::Iterate style:
// decoding is separate from what is done with each message.
//
// Every byte is read through ByteReader: a truncated, corrupted or unexpected
// message (including streaming messages, which version 1 never sends) is a
// Corruption status naming the message type and offset; never a crash, never a
// partial callback. Trailing bytes after a complete message are an error too.
//
// String views in the message structs point into the input bytes and are valid
// only during the callback.
//
// Thread-safety: stateless; Decode may run concurrently on different inputs.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "common/lsn.h"
#include "common/status.h"

namespace ferry::capture {

// Microseconds since 2000-01-01 (PostgreSQL's epoch), as on the wire.
using PgTimestamp = int64_t;
// PostgreSQL epoch -> Unix epoch, in microseconds.
inline constexpr int64_t kPgEpochOffsetMicros = 946684800LL * 1000000LL;

struct BeginMessage {  // 'B' u64 final_lsn, i64 commit_time, u32 xid
  Lsn final_lsn;
  PgTimestamp commit_time = 0;
  Xid xid;
};

struct CommitMessage {  // 'C' u8 flags, u64 commit_lsn, u64 end_lsn, i64 commit_time
  uint8_t flags = 0;
  Lsn commit_lsn;
  Lsn end_lsn;
  PgTimestamp commit_time = 0;
};

struct OriginMessage {  // 'O' u64 commit_lsn, cstring name
  Lsn commit_lsn;
  std::string_view name;
};

struct RelationColumn {  // u8 flags, cstring name, u32 type_oid, i32 type_modifier
  uint8_t flags = 0;  // bit 0: part of the replica identity (the key)
  std::string_view name;
  uint32_t type_oid = 0;
  int32_t type_modifier = -1;
  bool is_key() const { return (flags & 1) != 0; }
};

struct RelationMessage {  // 'R' u32 oid, cstring ns, cstring name, u8 ident, i16 ncols, cols...
  uint32_t oid = 0;
  std::string_view schema;  // "" on the wire means pg_catalog
  std::string_view name;
  char replica_identity = 'd';  // 'd' default, 'n' nothing, 'f' full, 'i' index
  std::vector<RelationColumn> columns;
};

struct TypeMessage {  // 'Y' u32 oid, cstring ns, cstring name
  uint32_t oid = 0;
  std::string_view schema;
  std::string_view name;
};

struct TupleValue {
  enum class Kind : char { kNull = 'n', kUnchangedToast = 'u', kText = 't', kBinary = 'b' };
  Kind kind = Kind::kNull;
  std::string_view data;  // for kText / kBinary
};
// i16 ncols, then per column: u8 kind ['t'|'b': i32 len, bytes]
using Tuple = std::vector<TupleValue>;

struct InsertMessage {  // 'I' u32 rel, 'N', tuple
  uint32_t relation_oid = 0;
  Tuple new_tuple;
};

struct UpdateMessage {  // 'U' u32 rel, ['K'|'O' tuple], 'N' tuple
  uint32_t relation_oid = 0;
  char old_kind = 0;  // 0 (none sent), 'K' (old key) or 'O' (old row)
  Tuple old_tuple;
  Tuple new_tuple;
};

struct DeleteMessage {  // 'D' u32 rel, 'K'|'O' tuple
  uint32_t relation_oid = 0;
  char old_kind = 'K';
  Tuple old_tuple;
};

struct TruncateMessage {  // 'T' u32 nrels, u8 options, u32 oid * nrels
  bool cascade = false;           // options bit 0
  bool restart_identity = false;  // options bit 1
  std::vector<uint32_t> relation_oids;
};

struct LogicalMessage {  // 'M' u8 flags, u64 lsn, cstring prefix, i32 len, bytes
  bool transactional = false;  // flags bit 0
  Lsn lsn;
  std::string_view prefix;
  std::string_view content;
};

class PgOutputHandler {
 public:
  virtual ~PgOutputHandler() = default;
  virtual Status OnBegin(const BeginMessage& m) = 0;
  virtual Status OnCommit(const CommitMessage& m) = 0;
  virtual Status OnOrigin(const OriginMessage& m) = 0;
  virtual Status OnRelation(const RelationMessage& m) = 0;
  virtual Status OnType(const TypeMessage& m) = 0;
  virtual Status OnInsert(const InsertMessage& m) = 0;
  virtual Status OnUpdate(const UpdateMessage& m) = 0;
  virtual Status OnDelete(const DeleteMessage& m) = 0;
  virtual Status OnTruncate(const TruncateMessage& m) = 0;
  virtual Status OnMessage(const LogicalMessage& m) = 0;
};

class PgOutputDecoder {
 public:
  // Decodes exactly one message and calls one handler method (whose Status is
  // returned). Malformed input: Corruption, and no handler method is called.
  static Status Decode(std::string_view message, PgOutputHandler& handler);
};

}  // namespace ferry::capture
