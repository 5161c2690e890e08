#include "apply/parking.h"

#include <chrono>

#include "apply/statement_builder.h"
#include "common/pg.h"
#include "transport/naming.h"
#include "transport/row_batch.h"

namespace ferry::apply {

namespace {

using ferry::v1::ChangeEvent;
using ferry::v1::Column;
using checkpoint::ParkedEvent;

std::string KeyJson(const ChangeEvent& e) {
  const auto& columns = e.op() == ferry::v1::OP_DELETE ? e.old_columns() : e.columns();
  std::vector<transport::KeyValue> key;
  for (const std::string& name : e.key_columns()) {
    std::optional<std::string> value;
    for (const Column& c : columns) {
      if (c.name() == name && c.kind() == Column::KIND_TEXT) value = c.value();
    }
    key.emplace_back(name, std::move(value));
  }
  return transport::EncodeRowKey(key);
}

std::string TablePart(const ChangeEvent& e) {
  return QualifiedName(e.schema(), e.table()) + std::string(1, '\0');
}

// REPLICA IDENTITY FULL: the "key" is the whole row, so it changes with every
// update and cannot name the row across its events: parking holds the table.
bool FullIdentity(const ChangeEvent& e) {
  return e.old_tuple() == ChangeEvent::OLD_FULL ||
         (e.key_columns_size() > 0 && e.key_columns_size() == e.columns_size());
}

bool Held(const checkpoint::FailureStore& store, const ChangeEvent& e) {
  std::string table = TablePart(e);
  // A truncate, or a batch of rows, touches rows of the whole table.
  if (e.op() == ferry::v1::OP_TRUNCATE || transport::IsRowBatch(e.op())) return store.AnyParkedWithPrefix(table);
  return store.IsParked(table) || store.IsParked(ParkingRow(e));
}

}  // namespace

Result<OnError> ParseOnError(const std::string& text) {
  if (text == "stop") return OnError::kStop;
  if (text == "retry") return OnError::kRetry;
  if (text == "park") return OnError::kPark;
  return Status::InvalidArgument("--on-error must be stop, retry or park, not '" + text + "'");
}

bool IsEventError(const Status& s) {
  return s.code() == Status::Code::kInvalidArgument || s.code() == Status::Code::kCorruption;
}

std::string ParkingRow(const ChangeEvent& e) {
  if (e.op() == ferry::v1::OP_END) return "";
  if (e.op() == ferry::v1::OP_TRUNCATE || transport::IsRowBatch(e.op()) || FullIdentity(e)) return TablePart(e);
  return TablePart(e) + KeyJson(e);
}

std::string_view TableOfRow(std::string_view row) {
  size_t nul = row.find('\0');
  return nul == std::string_view::npos ? row : row.substr(0, nul + 1);
}

std::string DescribeWithKey(const ChangeEvent& e) {
  if (e.op() == ferry::v1::OP_TRUNCATE || e.op() == ferry::v1::OP_END || transport::IsRowBatch(e.op())) {
    return DescribeEvent(e);
  }
  return DescribeEvent(e) + ", key " + KeyJson(e);
}

bool HeldByParked(const checkpoint::FailureStore& store, std::span<const ChangeEvent> events) {
  if (store.Count() == 0) return false;
  for (const ChangeEvent& e : events) {
    if (e.op() != ferry::v1::OP_END && Held(store, e)) return true;
  }
  return false;
}

int64_t NowMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::vector<ParkedEvent> UnitRecords(std::span<const ChangeEvent> events, std::span<const int64_t> offsets,
                                     const TopicPartition& tp, int64_t unit, const std::string& error,
                                     uint32_t attempts) {
  std::vector<ParkedEvent> out;
  out.reserve(events.size());
  const int64_t now = NowMicros();
  for (size_t i = 0; i < events.size(); ++i) {
    ParkedEvent& r = out.emplace_back();
    r.kind = ParkedEvent::Kind::kEvent;
    r.row = ParkingRow(events[i]);
    r.description = DescribeWithKey(events[i]);
    r.source = tp;
    r.offset = offsets[i];
    r.payload = events[i].SerializeAsString();
    r.error = error;
    r.attempts = attempts;
    r.first_seen_us = r.last_seen_us = now;
    r.unit = unit;
  }
  return out;
}

ParkedEvent GarbageRecord(const Garbage& g) {
  ParkedEvent r;
  r.kind = ParkedEvent::Kind::kGarbage;
  // Unique: nothing waits behind a message whose row is unknown.
  r.row = "#garbage " + g.tp.ToString() + "@" + std::to_string(g.offset);
  r.description = "message at " + g.tp.ToString() + " offset " + std::to_string(g.offset) + " (" +
                  std::to_string(g.bytes.size()) + " bytes)";
  r.source = g.tp;
  r.offset = g.offset;
  r.payload = g.bytes;
  r.error = g.error;
  r.attempts = 1;
  r.first_seen_us = r.last_seen_us = NowMicros();
  return r;
}

}  // namespace ferry::apply
