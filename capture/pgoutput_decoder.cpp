// pgoutput protocol version 1, as PostgreSQL 15 sends it (one message per
// XLogData payload, or per row of pg_logical_slot_*_binary_changes):
//
//   BEGIN:    'B' u64(final_lsn) i64(commit_time) u32(xid)
//   COMMIT:   'C' u8(flags) u64(commit_lsn) u64(end_lsn) i64(commit_time)
//   ORIGIN:   'O' u64(commit_lsn) cstring(name)
//   RELATION: 'R' u32(oid) cstring(namespace) cstring(name) u8(replica_identity)
//             i16(ncols) COLUMN{ncols}
//   COLUMN:   u8(flags) cstring(name) u32(type_oid) i32(type_modifier)
//   TYPE:     'Y' u32(oid) cstring(namespace) cstring(name)
//   INSERT:   'I' u32(relation_oid) 'N' TUPLE
//   UPDATE:   'U' u32(relation_oid) [('K' | 'O') TUPLE] 'N' TUPLE
//   DELETE:   'D' u32(relation_oid) ('K' | 'O') TUPLE
//   TRUNCATE: 'T' u32(nrels) u8(options) u32(relation_oid){nrels}
//   MESSAGE:  'M' u8(flags) u64(lsn) cstring(prefix) i32(len) byte{len}
//   TUPLE:    i16(ncols) VALUE{ncols}
//   VALUE:    'n' | 'u' | 't' i32(len) byte{len} | 'b' i32(len) byte{len}
//
// Integers are big-endian. replica_identity is one of 'd' 'n' 'f' 'i'.
// namespace is "" for pg_catalog. Truncate options: bit 0 CASCADE, bit 1
// RESTART IDENTITY. Message flags: bit 0 transactional.
//
// Version 1 has no streaming ('S' 'E' 'c' 'A') or two-phase messages, and no
// xid field inside changes; seeing any of them means the stream is not what we
// asked for, so it is Corruption like any other unknown type byte.
#include "capture/pgoutput_decoder.h"

#include <cstdio>
#include <string>

#include "common/byte_reader.h"

namespace ferry::capture {

namespace {

// Smallest encoding of one RelationColumn: flags, "" name, type oid, typmod.
constexpr size_t kMinRelationColumnBytes = 1 + 1 + 4 + 4;
// Smallest encoding of one tuple value: its kind byte ('n' or 'u').
constexpr size_t kMinTupleValueBytes = 1;


std::string At(const ByteReader& r) { return " at offset " + std::to_string(r.position()); }

// A count read off the wire, checked against what is left before anyone
// allocates for it.
Status CheckCount(const ByteReader& r, uint64_t count, size_t min_bytes_each, const char* what) {
  if (count <= r.remaining() / min_bytes_each) return Status::OK();
  return Status::Corruption(std::string(what) + " count " + std::to_string(count) + At(r) +
                            " needs at least " + std::to_string(count * min_bytes_each) +
                            " bytes, " + std::to_string(r.remaining()) + " left");
}

Result<TupleValue> ParseTupleValue(ByteReader& r) {
  FERRY_ASSIGN_OR_RETURN(uint8_t kind, r.ReadU8());
  TupleValue v;
  v.kind = static_cast<TupleValue::Kind>(kind);
  switch (kind) {
    case 'n':
    case 'u': return v;
    case 't':
    case 'b': {
      FERRY_ASSIGN_OR_RETURN(int32_t len, r.ReadI32());
      if (len < 0) {
        return Status::Corruption("negative column value length " + std::to_string(len) + At(r));
      }
      FERRY_ASSIGN_OR_RETURN(v.data, r.ReadBytes(static_cast<size_t>(len)));
      return v;
    }
    default:
      return Status::Corruption("unknown tuple value kind " + DescribeByte(kind) + " at offset " +
                                std::to_string(r.position() - 1));
  }
}

Result<Tuple> ParseTuple(ByteReader& r) {
  FERRY_ASSIGN_OR_RETURN(int16_t ncols, r.ReadI16());
  if (ncols < 0) {
    return Status::Corruption("negative tuple column count " + std::to_string(ncols) + At(r));
  }
  FERRY_RETURN_IF_ERROR(
      CheckCount(r, static_cast<uint64_t>(ncols), kMinTupleValueBytes, "tuple column"));
  Tuple t;
  t.reserve(static_cast<size_t>(ncols));
  for (int16_t i = 0; i < ncols; ++i) {
    FERRY_ASSIGN_OR_RETURN(TupleValue v, ParseTupleValue(r));
    t.push_back(v);
  }
  return t;
}

// Reads the byte that introduces a tuple and checks it is one of `allowed`.
Result<char> ParseTupleTag(ByteReader& r, std::string_view allowed) {
  FERRY_ASSIGN_OR_RETURN(uint8_t tag, r.ReadU8());
  if (allowed.find(static_cast<char>(tag)) == std::string_view::npos) {
    return Status::Corruption("unexpected tuple tag " + DescribeByte(tag) + " at offset " +
                              std::to_string(r.position() - 1) + " (expected one of '" +
                              std::string(allowed) + "')");
  }
  return static_cast<char>(tag);
}

Result<BeginMessage> ParseBegin(ByteReader& r) {
  BeginMessage m;
  FERRY_ASSIGN_OR_RETURN(uint64_t final_lsn, r.ReadU64());
  FERRY_ASSIGN_OR_RETURN(m.commit_time, r.ReadI64());
  FERRY_ASSIGN_OR_RETURN(uint32_t xid, r.ReadU32());
  m.final_lsn = Lsn(final_lsn);
  m.xid = Xid(xid);
  return m;
}

Result<CommitMessage> ParseCommit(ByteReader& r) {
  CommitMessage m;
  FERRY_ASSIGN_OR_RETURN(m.flags, r.ReadU8());
  FERRY_ASSIGN_OR_RETURN(uint64_t commit_lsn, r.ReadU64());
  FERRY_ASSIGN_OR_RETURN(uint64_t end_lsn, r.ReadU64());
  FERRY_ASSIGN_OR_RETURN(m.commit_time, r.ReadI64());
  m.commit_lsn = Lsn(commit_lsn);
  m.end_lsn = Lsn(end_lsn);
  return m;
}

Result<OriginMessage> ParseOrigin(ByteReader& r) {
  OriginMessage m;
  FERRY_ASSIGN_OR_RETURN(uint64_t commit_lsn, r.ReadU64());
  FERRY_ASSIGN_OR_RETURN(m.name, r.ReadCString());
  m.commit_lsn = Lsn(commit_lsn);
  return m;
}

Result<RelationColumn> ParseRelationColumn(ByteReader& r) {
  RelationColumn c;
  FERRY_ASSIGN_OR_RETURN(c.flags, r.ReadU8());
  FERRY_ASSIGN_OR_RETURN(c.name, r.ReadCString());
  FERRY_ASSIGN_OR_RETURN(c.type_oid, r.ReadU32());
  FERRY_ASSIGN_OR_RETURN(c.type_modifier, r.ReadI32());
  return c;
}

Status CheckReplicaIdentity(const ByteReader& r, uint8_t ident) {
  if (ident == 'd' || ident == 'n' || ident == 'f' || ident == 'i') return Status::OK();
  return Status::Corruption("unknown replica identity " + DescribeByte(ident) + " at offset " +
                            std::to_string(r.position() - 1));
}

Result<RelationMessage> ParseRelation(ByteReader& r) {
  RelationMessage m;
  FERRY_ASSIGN_OR_RETURN(m.oid, r.ReadU32());
  FERRY_ASSIGN_OR_RETURN(m.schema, r.ReadCString());
  FERRY_ASSIGN_OR_RETURN(m.name, r.ReadCString());
  FERRY_ASSIGN_OR_RETURN(uint8_t ident, r.ReadU8());
  FERRY_RETURN_IF_ERROR(CheckReplicaIdentity(r, ident));
  m.replica_identity = static_cast<char>(ident);
  FERRY_ASSIGN_OR_RETURN(int16_t ncols, r.ReadI16());
  if (ncols < 0) {
    return Status::Corruption("negative relation column count " + std::to_string(ncols) + At(r));
  }
  FERRY_RETURN_IF_ERROR(
      CheckCount(r, static_cast<uint64_t>(ncols), kMinRelationColumnBytes, "relation column"));
  m.columns.reserve(static_cast<size_t>(ncols));
  for (int16_t i = 0; i < ncols; ++i) {
    FERRY_ASSIGN_OR_RETURN(RelationColumn c, ParseRelationColumn(r));
    m.columns.push_back(c);
  }
  return m;
}

Result<TypeMessage> ParseType(ByteReader& r) {
  TypeMessage m;
  FERRY_ASSIGN_OR_RETURN(m.oid, r.ReadU32());
  FERRY_ASSIGN_OR_RETURN(m.schema, r.ReadCString());
  FERRY_ASSIGN_OR_RETURN(m.name, r.ReadCString());
  return m;
}

Result<InsertMessage> ParseInsert(ByteReader& r) {
  InsertMessage m;
  FERRY_ASSIGN_OR_RETURN(m.relation_oid, r.ReadU32());
  FERRY_RETURN_IF_ERROR(ParseTupleTag(r, "N").status());
  FERRY_ASSIGN_OR_RETURN(m.new_tuple, ParseTuple(r));
  return m;
}

Result<UpdateMessage> ParseUpdate(ByteReader& r) {
  UpdateMessage m;
  FERRY_ASSIGN_OR_RETURN(m.relation_oid, r.ReadU32());
  FERRY_ASSIGN_OR_RETURN(char tag, ParseTupleTag(r, "KON"));
  if (tag != 'N') {
    m.old_kind = tag;
    FERRY_ASSIGN_OR_RETURN(m.old_tuple, ParseTuple(r));
    FERRY_RETURN_IF_ERROR(ParseTupleTag(r, "N").status());
  }
  FERRY_ASSIGN_OR_RETURN(m.new_tuple, ParseTuple(r));
  return m;
}

Result<DeleteMessage> ParseDelete(ByteReader& r) {
  DeleteMessage m;
  FERRY_ASSIGN_OR_RETURN(m.relation_oid, r.ReadU32());
  FERRY_ASSIGN_OR_RETURN(m.old_kind, ParseTupleTag(r, "KO"));
  FERRY_ASSIGN_OR_RETURN(m.old_tuple, ParseTuple(r));
  return m;
}

Result<TruncateMessage> ParseTruncate(ByteReader& r) {
  constexpr uint8_t kKnownOptions = 0x3;
  TruncateMessage m;
  FERRY_ASSIGN_OR_RETURN(uint32_t nrels, r.ReadU32());
  FERRY_ASSIGN_OR_RETURN(uint8_t options, r.ReadU8());
  if ((options & ~kKnownOptions) != 0) {
    return Status::Corruption("unknown truncate option bits " + DescribeByte(options));
  }
  m.cascade = (options & 0x1) != 0;
  m.restart_identity = (options & 0x2) != 0;
  FERRY_RETURN_IF_ERROR(CheckCount(r, nrels, sizeof(uint32_t), "truncated relation"));
  m.relation_oids.reserve(nrels);
  for (uint32_t i = 0; i < nrels; ++i) {
    FERRY_ASSIGN_OR_RETURN(uint32_t oid, r.ReadU32());
    m.relation_oids.push_back(oid);
  }
  return m;
}

Result<LogicalMessage> ParseMessage(ByteReader& r) {
  LogicalMessage m;
  FERRY_ASSIGN_OR_RETURN(uint8_t flags, r.ReadU8());
  FERRY_ASSIGN_OR_RETURN(uint64_t lsn, r.ReadU64());
  FERRY_ASSIGN_OR_RETURN(m.prefix, r.ReadCString());
  FERRY_ASSIGN_OR_RETURN(int32_t len, r.ReadI32());
  if (len < 0) {
    return Status::Corruption("negative message content length " + std::to_string(len) + At(r));
  }
  FERRY_ASSIGN_OR_RETURN(m.content, r.ReadBytes(static_cast<size_t>(len)));
  m.transactional = (flags & 0x1) != 0;
  m.lsn = Lsn(lsn);
  return m;
}

// Hands a fully parsed message to the handler, after checking nothing follows
// it. Parse errors get the message name as context; the handler's status is
// returned untouched.
template <typename M>
Status Deliver(const ByteReader& r, const char* name, Result<M> parsed, PgOutputHandler& handler,
               Status (PgOutputHandler::*on)(const M&)) {
  Status st = parsed.status();
  if (st.ok() && !r.AtEnd()) {
    st = Status::Corruption(std::to_string(r.remaining()) + " trailing bytes" + At(r));
  }
  if (!st.ok()) return st.WithContext(std::string("decoding pgoutput ") + name + " message");
  return (handler.*on)(*parsed);
}

Status UnexpectedType(uint8_t type) {
  std::string msg = "unexpected pgoutput message type " + DescribeByte(type);
  if (type == 'S' || type == 'E' || type == 'c' || type == 'A') {
    msg += " (a streaming message: ferry asks for protocol version 1, which never streams)";
  }
  return Status::Corruption(msg);
}

}  // namespace

Status PgOutputDecoder::Decode(std::string_view message, PgOutputHandler& handler) {
  ByteReader r(message);
  auto type = r.ReadU8();
  if (!type.ok()) return Status::Corruption("empty pgoutput message");
  using H = PgOutputHandler;
  switch (*type) {
    case 'B': return Deliver(r, "Begin", ParseBegin(r), handler, &H::OnBegin);
    case 'C': return Deliver(r, "Commit", ParseCommit(r), handler, &H::OnCommit);
    case 'O': return Deliver(r, "Origin", ParseOrigin(r), handler, &H::OnOrigin);
    case 'R': return Deliver(r, "Relation", ParseRelation(r), handler, &H::OnRelation);
    case 'Y': return Deliver(r, "Type", ParseType(r), handler, &H::OnType);
    case 'I': return Deliver(r, "Insert", ParseInsert(r), handler, &H::OnInsert);
    case 'U': return Deliver(r, "Update", ParseUpdate(r), handler, &H::OnUpdate);
    case 'D': return Deliver(r, "Delete", ParseDelete(r), handler, &H::OnDelete);
    case 'T': return Deliver(r, "Truncate", ParseTruncate(r), handler, &H::OnTruncate);
    case 'M': return Deliver(r, "Message", ParseMessage(r), handler, &H::OnMessage);
    default: return UnexpectedType(*type);
  }
}

}  // namespace ferry::capture
