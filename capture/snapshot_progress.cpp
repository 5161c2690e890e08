#include "capture/snapshot_progress.h"

#include <nlohmann/json.hpp>

namespace ferry::capture {

std::string EncodeTableProgress(const TableProgress& p) {
  nlohmann::json j;
  j["schema"] = p.schema;
  j["table"] = p.table;
  j["last_key"] = p.last_key ? nlohmann::json(*p.last_key) : nlohmann::json(nullptr);
  j["rows"] = p.rows;
  j["chunks"] = p.chunks;
  j["done"] = p.done;
  if (p.skip_before.value() != 0) j["skip_before"] = p.skip_before.value();
  if (p.part != 0) j["part"] = p.part;
  if (p.upper) j["upper"] = *p.upper;
  // Key values need not be valid UTF-8 (bytea keys are hex text, but a text key in
  // another encoding is not): keep the bytes.
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::ignore);
}

Result<TableProgress> DecodeTableProgress(const std::string& bytes) {
  try {
    auto j = nlohmann::json::parse(bytes);
    TableProgress p;
    p.schema = j.at("schema").get<std::string>();
    p.table = j.at("table").get<std::string>();
    if (!j.at("last_key").is_null()) p.last_key = j.at("last_key").get<KeyValues>();
    p.rows = j.at("rows").get<int64_t>();
    p.chunks = j.at("chunks").get<int64_t>();
    p.done = j.at("done").get<bool>();
    p.skip_before = Lsn(j.value("skip_before", uint64_t{0}));
    p.part = j.value("part", 0);
    if (j.contains("upper") && !j.at("upper").is_null()) p.upper = j.at("upper").get<KeyValues>();
    return p;
  } catch (const nlohmann::json::exception& e) {
    return Status::Corruption(std::string("malformed snapshot progress entry: ") + e.what());
  }
}

std::string SnapshotProgress::TableKey(const std::string& schema, const std::string& table) const {
  std::string key = slot_ + "/table/" + schema;
  key.push_back('\0');
  return key + table;
}

std::string SnapshotProgress::PartKey(const TableProgress& p) const {
  std::string key = TableKey(p.schema, p.table);
  if (p.part == 0) return key;
  key.push_back('\0');
  return key + std::to_string(p.part);
}

Result<std::optional<std::string>> SnapshotProgress::InitialState() {
  FERRY_ASSIGN_OR_RETURN(auto entries, store_.GetSnapshotEntries(slot_ + "/initial"));
  auto it = entries.find(slot_ + "/initial");
  if (it == entries.end()) return std::optional<std::string>();
  return std::optional<std::string>(it->second);
}

Status SnapshotProgress::BeginInitial() {
  FERRY_ASSIGN_OR_RETURN(auto entries, store_.GetSnapshotEntries(slot_ + "/table/"));
  std::map<std::string, std::optional<std::string>> changes;
  for (const auto& [key, value] : entries) changes[key] = std::nullopt;
  changes[slot_ + "/initial"] = "running";
  return store_.PutSnapshotEntries(changes);
}

Status SnapshotProgress::SetInitialState(const std::string& state) {
  return store_.PutSnapshotEntries({{slot_ + "/initial", state}});
}

Result<std::map<std::string, TableProgress>> SnapshotProgress::Tables() {
  FERRY_ASSIGN_OR_RETURN(auto entries, store_.GetSnapshotEntries(slot_ + "/table/"));
  std::map<std::string, TableProgress> out;
  for (const auto& [key, value] : entries) {
    FERRY_ASSIGN_OR_RETURN(TableProgress p, DecodeTableProgress(value));
    out[p.Id()] = std::move(p);
  }
  return out;
}

Status SnapshotProgress::Put(const std::vector<TableProgress>& tables) {
  std::map<std::string, std::optional<std::string>> changes;
  for (const auto& p : tables) changes[PartKey(p)] = EncodeTableProgress(p);
  return store_.PutSnapshotEntries(changes);
}

Status SnapshotProgress::Remove(const std::vector<TableProgress>& tables) {
  std::map<std::string, std::optional<std::string>> changes;
  for (const auto& p : tables) changes[PartKey(p)] = std::nullopt;
  return store_.PutSnapshotEntries(changes);
}

Status SnapshotProgress::Replace(const std::vector<TableProgress>& tables_of, const std::vector<TableProgress>& put) {
  std::map<std::string, std::optional<std::string>> changes;
  for (const auto& t : tables_of) {
    const std::string base = TableKey(t.schema, t.table);
    FERRY_ASSIGN_OR_RETURN(auto entries, store_.GetSnapshotEntries(base));
    // The table's own key, or one of its parts': not another table whose name starts like it.
    for (const auto& [key, value] : entries) {
      if (key == base || key.compare(0, base.size() + 1, base + '\0') == 0) changes[key] = std::nullopt;
    }
  }
  for (const auto& p : put) changes[PartKey(p)] = EncodeTableProgress(p);
  return store_.PutSnapshotEntries(changes);
}

}  // namespace ferry::capture
