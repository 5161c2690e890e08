// FailureStore on RocksDB. Key layout and record encoding in failure_store.h.
#include "checkpoint/failure_store.h"

#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>

#include <filesystem>

#include "checkpoint/rocks_util.h"
#include "common/byte_reader.h"

namespace ferry::checkpoint {

namespace {

// Version 2 added the unit (version 1 records are each a unit of their own).
constexpr uint8_t kRecordVersion = 2;
constexpr std::string_view kRecordPrefix = "f/";
constexpr std::string_view kOriginPrefix = "o/";
constexpr std::string_view kNextIdKey = "m/next_id";

void PutString(std::string* out, std::string_view s) {
  PutBigEndian(out, s.size(), 4);
  out->append(s);
}

std::string RecordKey(uint64_t id) {
  std::string key(kRecordPrefix);
  PutBigEndian(&key, id, 8);
  return key;
}

std::string OriginKey(const ParkedEvent& r) {
  std::string key(kOriginPrefix);
  PutString(&key, r.source.topic);
  PutBigEndian(&key, static_cast<uint32_t>(r.source.partition), 4);
  PutBigEndian(&key, static_cast<uint64_t>(r.offset), 8);
  return key;
}

std::string Fixed64(uint64_t v) {
  std::string s;
  PutBigEndian(&s, v, 8);
  return s;
}

Result<std::string> ReadString(ByteReader& in) {
  FERRY_ASSIGN_OR_RETURN(uint32_t n, in.ReadU32());
  FERRY_ASSIGN_OR_RETURN(std::string_view s, in.ReadBytes(n));
  return std::string(s);
}

Status ReadFields(ByteReader& in, ParkedEvent* r) {
  FERRY_ASSIGN_OR_RETURN(r->row, ReadString(in));
  FERRY_ASSIGN_OR_RETURN(r->description, ReadString(in));
  FERRY_ASSIGN_OR_RETURN(r->source.topic, ReadString(in));
  FERRY_ASSIGN_OR_RETURN(r->payload, ReadString(in));
  FERRY_ASSIGN_OR_RETURN(r->error, ReadString(in));
  FERRY_ASSIGN_OR_RETURN(r->source.partition, in.ReadI32());
  FERRY_ASSIGN_OR_RETURN(r->offset, in.ReadI64());
  FERRY_ASSIGN_OR_RETURN(r->attempts, in.ReadU32());
  FERRY_ASSIGN_OR_RETURN(r->first_seen_us, in.ReadI64());
  FERRY_ASSIGN_OR_RETURN(r->last_seen_us, in.ReadI64());
  return Status::OK();
}

}  // namespace

std::string EncodeRecord(const ParkedEvent& r) {
  std::string out;
  out.push_back(static_cast<char>(kRecordVersion));
  out.push_back(static_cast<char>(r.kind));
  for (std::string_view s : {std::string_view(r.row), std::string_view(r.description),
                             std::string_view(r.source.topic), std::string_view(r.payload),
                             std::string_view(r.error)}) {
    PutString(&out, s);
  }
  PutBigEndian(&out, static_cast<uint32_t>(r.source.partition), 4);
  PutBigEndian(&out, static_cast<uint64_t>(r.offset), 8);
  PutBigEndian(&out, r.attempts, 4);
  PutBigEndian(&out, static_cast<uint64_t>(r.first_seen_us), 8);
  PutBigEndian(&out, static_cast<uint64_t>(r.last_seen_us), 8);
  PutBigEndian(&out, static_cast<uint64_t>(r.unit), 8);
  return out;
}

Result<ParkedEvent> DecodeRecord(std::string_view bytes) {
  ByteReader in(bytes);
  ParkedEvent r;
  FERRY_ASSIGN_OR_RETURN(uint8_t version, in.ReadU8());
  FERRY_ASSIGN_OR_RETURN(uint8_t kind, in.ReadU8());
  if (version != 1 && version != kRecordVersion) {
    return Status::Corruption("parked record has version " + std::to_string(version) +
                              ", this ferry reads version " + std::to_string(kRecordVersion));
  }
  if (kind != static_cast<uint8_t>(ParkedEvent::Kind::kEvent) &&
      kind != static_cast<uint8_t>(ParkedEvent::Kind::kGarbage)) {
    return Status::Corruption("parked record has unknown kind " + std::to_string(kind));
  }
  r.kind = static_cast<ParkedEvent::Kind>(kind);
  Status s = ReadFields(in, &r);
  if (s.ok() && version >= 2) {
    Result<int64_t> unit = in.ReadI64();
    if (unit.ok()) r.unit = *unit;
    s = unit.status();
  }
  if (!s.ok()) return s.WithContext("decoding a parked record");
  if (!in.AtEnd()) {
    return Status::Corruption("parked record has " + std::to_string(in.remaining()) +
                              " trailing bytes");
  }
  return r;
}

struct FailureStore::Db {
  std::unique_ptr<rocksdb::DB> db;
};

FailureStore::FailureStore(std::string dir, std::unique_ptr<Db> db, bool read_only)
    : dir_(std::move(dir)), db_(std::move(db)), read_only_(read_only) {}
FailureStore::~FailureStore() = default;

Result<std::unique_ptr<FailureStore>> FailureStore::Open(const std::string& dir) {
  FERRY_ASSIGN_OR_RETURN(auto rocks, OpenRocks(dir, "failure store", /*lock_is_retriable=*/true));
  auto db = std::make_unique<Db>();
  db->db = std::move(rocks);
  std::unique_ptr<FailureStore> store(new FailureStore(dir, std::move(db), false));
  FERRY_RETURN_IF_ERROR(store->Load());
  return store;
}

Result<std::unique_ptr<FailureStore>> FailureStore::OpenReadOnly(const std::string& dir,
                                                                 const std::string& scratch_dir) {
  if (!std::filesystem::exists(dir + "/CURRENT")) {
    return Status::NotFound("no failure store at " + dir + " (nothing was ever parked there)");
  }
  FERRY_RETURN_IF_ERROR(MakeDirs(scratch_dir, "failure store reader"));
  rocksdb::Options options;
  options.max_open_files = -1;  // a secondary instance requires it
  rocksdb::DB* raw = nullptr;
  FERRY_RETURN_IF_ERROR(FromRocks(rocksdb::DB::OpenAsSecondary(options, dir, scratch_dir, &raw),
                                  "opening failure store " + dir + " for reading"));
  auto db = std::make_unique<Db>();
  db->db.reset(raw);
  // Replays the writer's WAL, so records parked a moment ago are seen.
  FERRY_RETURN_IF_ERROR(FromRocks(db->db->TryCatchUpWithPrimary(),
                                  "catching up with the writer of failure store " + dir));
  std::unique_ptr<FailureStore> store(new FailureStore(dir, std::move(db), true));
  FERRY_RETURN_IF_ERROR(store->Load());
  return store;
}

Status FailureStore::Load() {
  std::string next;
  rocksdb::Status s = db_->db->Get(rocksdb::ReadOptions(), std::string(kNextIdKey), &next);
  if (!s.IsNotFound()) {
    FERRY_RETURN_IF_ERROR(FromRocks(s, "reading the next id of failure store " + dir_));
    if (next.size() != 8) return Status::Corruption("failure store " + dir_ + ": malformed next id");
    next_id_ = GetBigEndian(next);
  }
  FERRY_ASSIGN_OR_RETURN(auto records, List());
  for (const auto& r : records) ++rows_[r.row];
  count_ = records.size();
  return Status::OK();
}

Status FailureStore::CheckWritable() const {
  if (!read_only_) return Status::OK();
  return Status::InvalidArgument("failure store " + dir_ + " is open read-only");
}

Status FailureStore::Write(void* batch, const std::string& what) {
  rocksdb::WriteOptions wo;
  wo.sync = true;
  return FromRocks(db_->db->Write(wo, static_cast<rocksdb::WriteBatch*>(batch)),
                   "writing " + what + " to failure store " + dir_);
}

Status FailureStore::Park(std::vector<ParkedEvent>* records) {
  FERRY_RETURN_IF_ERROR(CheckWritable());
  rocksdb::WriteBatch batch;
  uint64_t next = next_id_;
  std::map<std::string, uint64_t> added;  // origin key -> id, within this batch
  std::vector<const ParkedEvent*> fresh;
  for (ParkedEvent& r : *records) {
    std::string origin = OriginKey(r);
    std::string existing;
    rocksdb::Status s = db_->db->Get(rocksdb::ReadOptions(), origin, &existing);
    if (s.ok() && existing.size() == 8) {
      r.id = GetBigEndian(existing);  // parked before a crash: keep that record
      continue;
    }
    if (!s.IsNotFound()) FERRY_RETURN_IF_ERROR(FromRocks(s, "looking up a parked message"));
    if (auto it = added.find(origin); it != added.end()) {
      r.id = it->second;
      continue;
    }
    r.id = next++;
    added[origin] = r.id;
    batch.Put(RecordKey(r.id), EncodeRecord(r));
    batch.Put(origin, Fixed64(r.id));
    fresh.push_back(&r);
  }
  if (fresh.empty()) return Status::OK();
  batch.Put(std::string(kNextIdKey), Fixed64(next));
  FERRY_RETURN_IF_ERROR(Write(&batch, std::to_string(fresh.size()) + " parked events"));
  next_id_ = next;
  for (const ParkedEvent* r : fresh) ++rows_[r->row];
  count_ += fresh.size();
  return Status::OK();
}

Result<std::vector<ParkedEvent>> FailureStore::List() {
  std::vector<ParkedEvent> out;
  const rocksdb::Slice prefix(kRecordPrefix.data(), kRecordPrefix.size());
  std::unique_ptr<rocksdb::Iterator> it(db_->db->NewIterator(rocksdb::ReadOptions()));
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    std::string_view key = it->key().ToStringView();
    if (key.size() != kRecordPrefix.size() + 8) {
      return Status::Corruption("failure store " + dir_ + ": malformed record key");
    }
    Result<ParkedEvent> r = DecodeRecord(it->value().ToStringView());
    if (!r.ok()) return r.status().WithContext("failure store " + dir_);
    r->id = GetBigEndian(key.substr(kRecordPrefix.size()));
    out.push_back(std::move(r).value());
  }
  FERRY_RETURN_IF_ERROR(FromRocks(it->status(), "scanning failure store " + dir_));
  return out;
}

Result<ParkedEvent> FailureStore::Get(uint64_t id) {
  std::string value;
  rocksdb::Status s = db_->db->Get(rocksdb::ReadOptions(), RecordKey(id), &value);
  if (s.IsNotFound()) {
    return Status::NotFound("no parked event " + std::to_string(id) + " in " + dir_);
  }
  FERRY_RETURN_IF_ERROR(FromRocks(s, "reading parked event " + std::to_string(id)));
  Result<ParkedEvent> r = DecodeRecord(value);
  if (!r.ok()) return r.status().WithContext("failure store " + dir_);
  r->id = id;
  return r;
}

Status FailureStore::RecordAttempt(uint64_t id, const std::string& error, int64_t now_us) {
  FERRY_RETURN_IF_ERROR(CheckWritable());
  FERRY_ASSIGN_OR_RETURN(ParkedEvent r, Get(id));
  r.attempts++;
  r.error = error;
  r.last_seen_us = now_us;
  rocksdb::WriteBatch batch;
  batch.Put(RecordKey(id), EncodeRecord(r));
  return Write(&batch, "attempt on parked event " + std::to_string(id));
}

Status FailureStore::Remove(uint64_t id) { return Remove(std::vector<uint64_t>{id}); }

Status FailureStore::Remove(const std::vector<uint64_t>& ids) {
  FERRY_RETURN_IF_ERROR(CheckWritable());
  std::vector<ParkedEvent> records;
  rocksdb::WriteBatch batch;
  for (uint64_t id : ids) {
    FERRY_ASSIGN_OR_RETURN(ParkedEvent r, Get(id));
    batch.Delete(RecordKey(id));
    batch.Delete(OriginKey(r));
    records.push_back(std::move(r));
  }
  FERRY_RETURN_IF_ERROR(Write(&batch, "removal of " + std::to_string(ids.size()) + " parked events"));
  for (const ParkedEvent& r : records) {
    if (auto it = rows_.find(r.row); it != rows_.end() && --it->second == 0) rows_.erase(it);
    --count_;
  }
  return Status::OK();
}

bool FailureStore::IsParked(std::string_view row) const { return rows_.find(row) != rows_.end(); }

bool FailureStore::AnyParkedWithPrefix(std::string_view prefix) const {
  auto it = rows_.lower_bound(prefix);
  return it != rows_.end() && std::string_view(it->first).starts_with(prefix);
}

}  // namespace ferry::checkpoint
