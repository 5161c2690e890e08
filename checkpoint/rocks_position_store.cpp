// RocksPositionStore: PositionStore on RocksDB. Key layout in position_store.h.
#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>

#include <string_view>

#include "checkpoint/position_store.h"
#include "checkpoint/rocks_util.h"

namespace ferry::checkpoint {

namespace {

constexpr std::string_view kOffsetPrefix = "apply/offset/";
constexpr std::string_view kAppliedPrefix = "apply/applied/";
constexpr std::string_view kLsnPrefix = "capture/lsn/";
constexpr std::string_view kHistoryPrefix = "capture/history/";
constexpr std::string_view kSnapshotPrefix = "snapshot/";
constexpr std::string_view kMetaPrefix = "meta/";

// "<prefix><topic>\x00<partition as u32 BE>"
std::string PartitionKey(std::string_view prefix, const TopicPartition& tp) {
  std::string key(prefix);
  key += tp.topic;
  key.push_back('\0');
  PutBigEndian(&key, static_cast<uint32_t>(tp.partition), 4);
  return key;
}

std::string OffsetKey(const TopicPartition& tp) { return PartitionKey(kOffsetPrefix, tp); }

Status CheckPartition(const TopicPartition& tp) {
  if (tp.topic.find('\0') == std::string::npos && tp.partition >= 0) return Status::OK();
  return Status::InvalidArgument("cannot store a position for malformed topic-partition " +
                                 tp.ToString());
}

Status BatchOffset(rocksdb::WriteBatch* batch, const TopicPartition& tp, int64_t offset) {
  FERRY_RETURN_IF_ERROR(CheckPartition(tp));
  std::string value;
  PutBigEndian(&value, static_cast<uint64_t>(offset), 8);
  return FromRocks(batch->Put(OffsetKey(tp), value), "batching offsets");
}

Status BatchLsn(rocksdb::WriteBatch* batch, const std::string& name, Lsn lsn) {
  std::string value;
  PutBigEndian(&value, lsn.value(), 8);
  return FromRocks(batch->Put(std::string(kLsnPrefix) + name, value), "batching LSN " + name);
}

Result<TopicPartition> DecodeOffsetKey(std::string_view key) {
  std::string_view rest = key.substr(kOffsetPrefix.size());
  if (rest.size() < 5 || rest[rest.size() - 5] != '\0') {
    return Status::Corruption("malformed offset key in position store (" +
                              std::to_string(key.size()) + " bytes)");
  }
  TopicPartition tp;
  tp.topic = std::string(rest.substr(0, rest.size() - 5));
  tp.partition = static_cast<int32_t>(GetBigEndian(rest.substr(rest.size() - 4)));
  return tp;
}

// A value must be exactly `width` bytes; anything else is damage, not a default.
Status CheckWidth(std::string_view value, size_t width, const std::string& what) {
  if (value.size() == width) return Status::OK();
  return Status::Corruption("position store value for " + what + " is " +
                            std::to_string(value.size()) + " bytes, expected " +
                            std::to_string(width));
}

}  // namespace

struct RocksPositionStore::Impl {
  std::string dir;
  std::unique_ptr<rocksdb::DB> db;

  Status Write(rocksdb::WriteBatch* batch, const std::string& what) {
    rocksdb::WriteOptions wo;
    wo.sync = true;
    return FromRocks(db->Write(wo, batch), "writing " + what + " to position store " + dir);
  }

  // nullopt when the key is absent.
  Result<std::optional<std::string>> Get(const std::string& key, const std::string& what) {
    std::string value;
    rocksdb::Status s = db->Get(rocksdb::ReadOptions(), key, &value);
    if (s.IsNotFound()) return std::optional<std::string>();
    FERRY_RETURN_IF_ERROR(FromRocks(s, "reading " + what + " from position store " + dir));
    return std::optional<std::string>(std::move(value));
  }
};

RocksPositionStore::RocksPositionStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
RocksPositionStore::~RocksPositionStore() = default;

Result<std::unique_ptr<RocksPositionStore>> RocksPositionStore::Open(const std::string& dir) {
  FERRY_ASSIGN_OR_RETURN(auto db, OpenRocks(dir, "position store", /*lock_is_retriable=*/false));
  auto impl = std::make_unique<Impl>();
  impl->dir = dir;
  impl->db = std::move(db);
  return std::unique_ptr<RocksPositionStore>(new RocksPositionStore(std::move(impl)));
}

Result<std::optional<int64_t>> RocksPositionStore::GetOffset(const TopicPartition& tp) {
  FERRY_ASSIGN_OR_RETURN(auto value, impl_->Get(OffsetKey(tp), "offset of " + tp.ToString()));
  if (!value) return std::optional<int64_t>();
  FERRY_RETURN_IF_ERROR(CheckWidth(*value, 8, "offset of " + tp.ToString()));
  return std::optional<int64_t>(static_cast<int64_t>(GetBigEndian(*value)));
}

Status RocksPositionStore::PutOffsets(const std::map<TopicPartition, int64_t>& next_offsets) {
  rocksdb::WriteBatch batch;
  for (const auto& [tp, offset] : next_offsets) FERRY_RETURN_IF_ERROR(BatchOffset(&batch, tp, offset));
  return impl_->Write(&batch, std::to_string(next_offsets.size()) + " offsets");
}

Result<std::optional<EventPosition>> RocksPositionStore::GetLastApplied(const TopicPartition& tp) {
  const std::string what = "last applied position of " + tp.ToString();
  FERRY_ASSIGN_OR_RETURN(auto value, impl_->Get(PartitionKey(kAppliedPrefix, tp), what));
  if (!value) return std::optional<EventPosition>();
  FERRY_RETURN_IF_ERROR(CheckWidth(*value, 12, what));
  std::string_view v(*value);
  return std::optional<EventPosition>(
      EventPosition{Lsn(GetBigEndian(v.substr(0, 8))), static_cast<uint32_t>(GetBigEndian(v.substr(8)))});
}

Status RocksPositionStore::PutProgress(const std::map<TopicPartition, PartitionProgress>& progress) {
  rocksdb::WriteBatch batch;
  for (const auto& [tp, p] : progress) {
    FERRY_RETURN_IF_ERROR(BatchOffset(&batch, tp, p.next_offset));
    std::string value;
    PutBigEndian(&value, p.last_applied.commit_lsn.value(), 8);
    PutBigEndian(&value, p.last_applied.index, 4);
    FERRY_RETURN_IF_ERROR(
        FromRocks(batch.Put(PartitionKey(kAppliedPrefix, tp), value), "batching applied positions"));
  }
  return impl_->Write(&batch, std::to_string(progress.size()) + " partition positions");
}

Result<std::map<TopicPartition, int64_t>> RocksPositionStore::AllOffsets() {
  std::map<TopicPartition, int64_t> out;
  const rocksdb::Slice prefix(kOffsetPrefix.data(), kOffsetPrefix.size());
  std::unique_ptr<rocksdb::Iterator> it(impl_->db->NewIterator(rocksdb::ReadOptions()));
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    FERRY_ASSIGN_OR_RETURN(TopicPartition tp, DecodeOffsetKey(it->key().ToStringView()));
    FERRY_RETURN_IF_ERROR(CheckWidth(it->value().ToStringView(), 8, "offset of " + tp.ToString()));
    out[tp] = static_cast<int64_t>(GetBigEndian(it->value().ToStringView()));
  }
  FERRY_RETURN_IF_ERROR(
      FromRocks(it->status(), "scanning offsets in position store " + impl_->dir));
  return out;
}

Result<std::optional<Lsn>> RocksPositionStore::GetLsn(const std::string& name) {
  FERRY_ASSIGN_OR_RETURN(auto value, impl_->Get(std::string(kLsnPrefix) + name, "LSN " + name));
  if (!value) return std::optional<Lsn>();
  FERRY_RETURN_IF_ERROR(CheckWidth(*value, 8, "LSN " + name));
  return std::optional<Lsn>(Lsn(GetBigEndian(*value)));
}

Status RocksPositionStore::PutLsn(const std::string& name, Lsn lsn) {
  rocksdb::WriteBatch batch;
  FERRY_RETURN_IF_ERROR(BatchLsn(&batch, name, lsn));
  return impl_->Write(&batch, "LSN " + name);
}

Result<std::optional<std::string>> RocksPositionStore::GetMeta(const std::string& name) {
  return impl_->Get(std::string(kMetaPrefix) + name, name);
}

Status RocksPositionStore::PutMeta(const std::string& name, const std::string& value) {
  rocksdb::WriteBatch batch;
  FERRY_RETURN_IF_ERROR(FromRocks(batch.Put(std::string(kMetaPrefix) + name, value), "batching " + name));
  return impl_->Write(&batch, name);
}

Result<std::optional<SourceHistory>> RocksPositionStore::GetHistory(const std::string& name) {
  const std::string what = "source history of " + name;
  FERRY_ASSIGN_OR_RETURN(auto value, impl_->Get(std::string(kHistoryPrefix) + name, what));
  if (!value) return std::optional<SourceHistory>();
  FERRY_RETURN_IF_ERROR(CheckWidth(*value, 12, what));
  std::string_view v(*value);
  return std::optional<SourceHistory>(
      SourceHistory{GetBigEndian(v.substr(0, 8)), static_cast<uint32_t>(GetBigEndian(v.substr(8)))});
}

Status RocksPositionStore::PutLsnWithHistory(const std::string& name, Lsn lsn, const SourceHistory& history) {
  std::string value;
  PutBigEndian(&value, history.system_id, 8);
  PutBigEndian(&value, history.timeline, 4);
  rocksdb::WriteBatch batch;
  FERRY_RETURN_IF_ERROR(BatchLsn(&batch, name, lsn));
  FERRY_RETURN_IF_ERROR(
      FromRocks(batch.Put(std::string(kHistoryPrefix) + name, value), "batching source history of " + name));
  return impl_->Write(&batch, "LSN and source history of " + name);
}

Result<std::map<std::string, std::string>> RocksPositionStore::GetSnapshotEntries(
    const std::string& prefix) {
  std::map<std::string, std::string> out;
  const std::string full = std::string(kSnapshotPrefix) + prefix;
  std::unique_ptr<rocksdb::Iterator> it(impl_->db->NewIterator(rocksdb::ReadOptions()));
  for (it->Seek(full); it->Valid() && it->key().starts_with(full); it->Next()) {
    out[it->key().ToString().substr(kSnapshotPrefix.size())] = it->value().ToString();
  }
  FERRY_RETURN_IF_ERROR(FromRocks(it->status(), "scanning snapshot progress in " + impl_->dir));
  return out;
}

Status RocksPositionStore::PutSnapshotEntries(
    const std::map<std::string, std::optional<std::string>>& entries) {
  rocksdb::WriteBatch batch;
  for (const auto& [name, value] : entries) {
    const std::string key = std::string(kSnapshotPrefix) + name;
    FERRY_RETURN_IF_ERROR(FromRocks(value ? batch.Put(key, *value) : batch.Delete(key),
                                    "batching snapshot progress"));
  }
  return impl_->Write(&batch, std::to_string(entries.size()) + " snapshot progress entries");
}

}  // namespace ferry::checkpoint
