#include "capture/event_builder.h"

#include <spdlog/spdlog.h>

#include "transport/naming.h"

namespace ferry::capture {

using ferry::v1::ChangeEvent;

EventBuilder::EventBuilder(BuilderOptions options,
                           std::unordered_map<uint32_t, std::string> type_names, ChangeSink& sink,
                           RowFetcher* fetcher)
    : options_(std::move(options)),
      type_names_(std::move(type_names)),
      sink_(sink),
      fetcher_(fetcher),
      batcher_(options_.insert_batch_rows,
               [this](const std::string& key, ChangeEvent& e, Lsn lsn) { return EmitAt(key, e, lsn); }),
      batch_inserts_(options_.insert_batch_rows > 0) {}

namespace {

// pgoutput's text values and NULLs are what COPY's text format holds.
bool TextOnly(const Tuple& row) {
  for (const TupleValue& v : row) {
    if (v.kind != TupleValue::Kind::kText && v.kind != TupleValue::Kind::kNull) return false;
  }
  return true;
}

}  // namespace

Status EventBuilder::SetBatchInserts(bool on) {
  on = on && options_.insert_batch_rows > 0;
  if (on == batch_inserts_) return Status::OK();
  batch_inserts_ = on;
  return on ? Status::OK() : batcher_.Flush();
}

Status EventBuilder::OnBegin(const BeginMessage& m) {
  if (in_tx_) {
    return Status::Corruption("Begin at " + current_lsn_.ToString() + " inside an open transaction");
  }
  in_tx_ = true;
  commit_lsn_ = m.final_lsn;
  xid_ = m.xid;
  commit_time_us_ = m.commit_time + kPgEpochOffsetMicros;
  index_in_tx_ = 0;
  unit_start_ = 0;
  origin_.clear();
  from_ferry_ = false;
  skipping_ = m.final_lsn < options_.skip_before;
  if (skipping_) {
    spdlog::debug("skipping transaction {} committed at {}: already confirmed", m.xid.value(),
                  m.final_lsn.ToString());
    return Status::OK();
  }
  return sink_.BeginTransaction(commit_lsn_, xid_);
}

Status EventBuilder::OnCommit(const CommitMessage& m) {
  if (!in_tx_) return Status::Corruption("Commit at " + current_lsn_.ToString() + " without Begin");
  if (m.commit_lsn != commit_lsn_) {
    return Status::Corruption("Commit LSN " + m.commit_lsn.ToString() + " differs from Begin's " +
                              commit_lsn_.ToString());
  }
  FERRY_RETURN_IF_ERROR(batcher_.Flush());
  in_tx_ = false;
  if (skipping_) return Status::OK();
  if (index_in_tx_ > unit_start_) FERRY_RETURN_IF_ERROR(PublishEnd(m.end_lsn));
  return sink_.CommitTransaction(m.commit_lsn, m.end_lsn);
}

Status EventBuilder::OnOrigin(const OriginMessage& m) {
  if (!in_tx_ || index_in_tx_ > 0) {
    return Status::Corruption("Origin message at " + current_lsn_.ToString() +
                              " outside the start of a transaction");
  }
  origin_ = std::string(m.name);
  if (skipping_ || options_.replicate_origins || !transport::IsFerryOrigin(origin_)) return Status::OK();
  from_ferry_ = true;
  if (ferry_origin_transactions_++ == 0) {
    spdlog::info("dropping transactions of replication origin '{}' (written by a ferry apply; "
                 "--replicate-origins keeps them)", origin_);
  }
  return Status::OK();
}

Status EventBuilder::OnRelation(const RelationMessage& m) {
  FERRY_RETURN_IF_ERROR(batcher_.Flush());  // kept rows were of the relation as it was
  Relation rel;
  rel.schema = m.schema.empty() ? "pg_catalog" : std::string(m.schema);
  rel.name = std::string(m.name);
  rel.table_key = transport::TableKey(rel.schema, rel.name);
  rel.replica_identity = m.replica_identity;
  for (const auto& c : m.columns) {
    rel.columns.push_back(Column{std::string(c.name), c.type_oid, c.type_modifier, c.is_key()});
    if (c.is_key()) rel.key_columns.emplace_back(c.name);
  }
  if (auto it = table_skips_.find(rel.schema + "." + rel.name); it != table_skips_.end()) rel.skip_before = it->second;
  relations_[m.oid] = std::move(rel);
  return Status::OK();
}

Status EventBuilder::OnType(const TypeMessage& m) {
  std::string schema = m.schema.empty() ? "pg_catalog" : std::string(m.schema);
  type_names_[m.oid] = schema + "." + std::string(m.name);
  return Status::OK();
}

Result<const EventBuilder::Relation*> EventBuilder::FindRelation(uint32_t oid, char message) const {
  auto it = relations_.find(oid);
  if (it == relations_.end()) {
    return Status::Corruption(std::string("'") + message + "' message at " + current_lsn_.ToString() +
                              " for relation " + std::to_string(oid) +
                              " that no Relation message described");
  }
  return &it->second;
}

Status EventBuilder::CheckTuple(const Relation& rel, const Tuple& tuple, const char* what) const {
  if (tuple.size() == rel.columns.size()) return Status::OK();
  return Status::Corruption(std::string(what) + " tuple at " + current_lsn_.ToString() + " for " +
                            rel.schema + "." + rel.name + " has " + std::to_string(tuple.size()) +
                            " columns, the relation " + std::to_string(rel.columns.size()));
}

std::string EventBuilder::TypeName(uint32_t oid) const {
  auto it = type_names_.find(oid);
  return it == type_names_.end() ? "" : it->second;
}

// One event object, cleared and refilled: protobuf keeps the cleared columns
// and their strings' memory, so a stream of like rows allocates next to nothing.
ChangeEvent& EventBuilder::NewEvent(const Relation& rel, ferry::v1::Operation op) {
  ChangeEvent& e = scratch_;
  e.Clear();
  e.set_schema(rel.schema);
  e.set_table(rel.name);
  e.set_op(op);
  for (const auto& k : rel.key_columns) e.add_key_columns(k);
  return e;
}

void EventBuilder::Stamp(ChangeEvent& e) {
  e.set_source_database(options_.source_database);
  e.set_commit_lsn(commit_lsn_.value());
  e.set_lsn(current_lsn_.value());
  e.set_xid(xid_.value());
  e.set_commit_time_us(commit_time_us_);
  e.set_origin(origin_);
  e.set_capture_session(options_.capture_session);
  e.set_index_in_tx(index_in_tx_++);
}

// After the transaction's last event: a reader applies the transaction only
// once this arrived (change_event.proto).
Status EventBuilder::PublishEnd(Lsn end_lsn) {
  ChangeEvent end;
  end.set_op(ferry::v1::OP_END);
  end.set_unit_events(index_in_tx_ - unit_start_);
  end.set_commit_end_lsn(end_lsn.value());
  Stamp(end);
  end.set_lsn(commit_lsn_.value());
  unit_start_ = index_in_tx_;
  return sink_.Publish("", end);
}

// The commit record is still ahead: its end is not known, the commit LSN stands in.
Status EventBuilder::EndUnitInTransaction() {
  FERRY_RETURN_IF_ERROR(batcher_.Flush());
  if (index_in_tx_ == unit_start_) return Status::OK();
  return PublishEnd(commit_lsn_);
}

void EventBuilder::SkipTableBefore(const std::string& schema, const std::string& table, Lsn lsn) {
  table_skips_[schema + "." + table] = lsn;
  for (auto& [oid, rel] : relations_) {
    if (rel.schema == schema && rel.name == table) rel.skip_before = lsn;
  }
}

void EventBuilder::FillColumns(const Relation& rel, const Tuple& tuple,
                               google::protobuf::RepeatedPtrField<ferry::v1::Column>* out) const {
  for (size_t i = 0; i < tuple.size(); ++i) {
    const Column& def = rel.columns[i];
    ferry::v1::Column* c = out->Add();
    c->set_name(def.name);
    c->set_type_oid(def.type_oid);
    c->set_type_name(TypeName(def.type_oid));
    c->set_type_modifier(def.type_modifier);
    c->set_is_key(def.is_key);
    switch (tuple[i].kind) {
      case TupleValue::Kind::kNull:
        c->set_kind(ferry::v1::Column::KIND_NULL);
        break;
      case TupleValue::Kind::kUnchangedToast:
        c->set_kind(ferry::v1::Column::KIND_UNCHANGED_TOAST);
        break;
      case TupleValue::Kind::kText:
        c->set_kind(ferry::v1::Column::KIND_TEXT);
        c->set_value(std::string(tuple[i].data));
        break;
      case TupleValue::Kind::kBinary:
        c->set_kind(ferry::v1::Column::KIND_BINARY);
        c->set_value(std::string(tuple[i].data));
        break;
    }
  }
}

std::string EventBuilder::RowKey(const Relation& rel, const Tuple& tuple) const {
  // REPLICA IDENTITY FULL: every column is "key", so each version of a row
  // would land in another partition and its updates could apply out of order.
  // One partition for the table keeps them in commit order.
  if (rel.key_columns.empty() || rel.replica_identity == 'f') return rel.table_key;
  std::vector<transport::KeyValue> key;
  for (size_t i = 0; i < rel.columns.size() && i < tuple.size(); ++i) {
    if (!rel.columns[i].is_key) continue;
    const TupleValue& v = tuple[i];
    if (v.kind == TupleValue::Kind::kText || v.kind == TupleValue::Kind::kBinary) {
      key.emplace_back(rel.columns[i].name, std::string(v.data));
    } else {
      key.emplace_back(rel.columns[i].name, std::nullopt);
    }
  }
  return transport::EncodeRowKey(key);
}

bool EventBuilder::KeyChanged(const Relation& rel, const Tuple& old_tuple,
                              const Tuple& new_tuple) const {
  for (size_t i = 0; i < rel.columns.size(); ++i) {
    if (!rel.columns[i].is_key) continue;
    // An unchanged-TOAST key column in the new tuple did not change.
    if (new_tuple[i].kind == TupleValue::Kind::kUnchangedToast) continue;
    if (old_tuple[i].kind != new_tuple[i].kind || old_tuple[i].data != new_tuple[i].data) return true;
  }
  return false;
}

Result<bool> EventBuilder::CompleteMovedRow(const Relation& rel, const UpdateMessage& m, Tuple* row,
                                            std::vector<std::string>* storage) {
  std::vector<std::string> missing;
  std::vector<std::pair<std::string, std::string>> key;
  for (size_t i = 0; i < rel.columns.size(); ++i) {
    if ((*row)[i].kind != TupleValue::Kind::kUnchangedToast) {
      if (rel.columns[i].is_key) key.emplace_back(rel.columns[i].name, std::string((*row)[i].data));
      continue;
    }
    if (m.old_kind == 'O' && m.old_tuple[i].kind != TupleValue::Kind::kUnchangedToast) {
      (*row)[i] = m.old_tuple[i];  // FULL identity logs the old row detoasted
    } else {
      missing.push_back(rel.columns[i].name);
    }
  }
  if (missing.empty()) return true;
  const std::string where = rel.schema + "." + rel.name + " at " + current_lsn_.ToString();
  if (fetcher_ == nullptr) {
    return Status::Internal("key-changing update of " + where + " left columns unsent and no source is at hand");
  }
  FERRY_ASSIGN_OR_RETURN(auto values, fetcher_->Fetch(rel.schema, rel.name, key, missing));
  if (!values) {
    spdlog::debug("key-changing update of {}: the row is gone from the source; a later event removes it", where);
    return false;
  }
  storage->reserve(missing.size());  // views below point into it: no reallocation
  size_t next = 0;
  for (auto& v : *row) {
    if (v.kind != TupleValue::Kind::kUnchangedToast) continue;
    const auto& fetched = (*values)[next++];
    if (!fetched) {
      v = TupleValue{TupleValue::Kind::kNull, {}};
    } else {
      storage->push_back(*fetched);
      v = TupleValue{TupleValue::Kind::kText, storage->back()};
    }
  }
  return true;
}

Status EventBuilder::Emit(const std::string& key, ChangeEvent& event) {
  Stamp(event);
  return sink_.Publish(key, event);
}

Status EventBuilder::EmitAt(const std::string& key, ChangeEvent& event, Lsn lsn) {
  Stamp(event);
  event.set_lsn(lsn.value());
  return sink_.Publish(key, event);
}

Status EventBuilder::OnInsert(const InsertMessage& m) {
  if (Dropping()) return Status::OK();
  FERRY_ASSIGN_OR_RETURN(const Relation* rel, FindRelation(m.relation_oid, 'I'));
  if (Skips(*rel)) return Status::OK();
  FERRY_RETURN_IF_ERROR(CheckTuple(*rel, m.new_tuple, "Insert"));
  const bool batchable = batch_inserts_ && TextOnly(m.new_tuple);
  if (batchable && batcher_.Extends(m.relation_oid)) return batcher_.AppendRow(m.new_tuple, current_lsn_);
  if (!batchable) FERRY_RETURN_IF_ERROR(batcher_.Flush());
  ChangeEvent& e = NewEvent(*rel, ferry::v1::OP_INSERT);
  FillColumns(*rel, m.new_tuple, e.mutable_columns());
  if (!batchable) return Emit(RowKey(*rel, m.new_tuple), e);
  return batcher_.Keep(m.relation_oid, rel->table_key, RowKey(*rel, m.new_tuple), std::move(e), current_lsn_);
}

Status EventBuilder::OnUpdate(const UpdateMessage& m) {
  if (Dropping()) return Status::OK();
  FERRY_RETURN_IF_ERROR(batcher_.Flush());
  FERRY_ASSIGN_OR_RETURN(const Relation* rel, FindRelation(m.relation_oid, 'U'));
  if (Skips(*rel)) return Status::OK();
  FERRY_RETURN_IF_ERROR(CheckTuple(*rel, m.new_tuple, "Update new"));
  const bool has_old = m.old_kind == 'K' || m.old_kind == 'O';
  if (has_old) FERRY_RETURN_IF_ERROR(CheckTuple(*rel, m.old_tuple, "Update old"));
  const auto old_kind = m.old_kind == 'O' ? ChangeEvent::OLD_FULL : ChangeEvent::OLD_KEY;

  // A FULL old row locates the row itself: nothing to split (see RowKey).
  const bool key_changed =
      has_old && rel->replica_identity != 'f' && KeyChanged(*rel, m.old_tuple, m.new_tuple);
  if (key_changed) {
    // The old row's history lives in the old key's partition: end it there.
    ChangeEvent& del = NewEvent(*rel, ferry::v1::OP_DELETE);
    del.set_key_changed(true);
    del.set_old_tuple(old_kind);
    FillColumns(*rel, m.old_tuple, del.mutable_old_columns());
    FERRY_RETURN_IF_ERROR(Emit(RowKey(*rel, m.old_tuple), del));
  }
  const Tuple* row = &m.new_tuple;
  Tuple completed;
  std::vector<std::string> storage;
  if (key_changed) {
    completed = m.new_tuple;
    FERRY_ASSIGN_OR_RETURN(bool exists, CompleteMovedRow(*rel, m, &completed, &storage));
    if (!exists) return Status::OK();
    row = &completed;
  }
  ChangeEvent& e = NewEvent(*rel, ferry::v1::OP_UPDATE);
  e.set_key_changed(key_changed);
  FillColumns(*rel, *row, e.mutable_columns());
  if (has_old) {
    e.set_old_tuple(old_kind);
    FillColumns(*rel, m.old_tuple, e.mutable_old_columns());
  }
  return Emit(RowKey(*rel, *row), e);
}

Status EventBuilder::OnDelete(const DeleteMessage& m) {
  if (Dropping()) return Status::OK();
  FERRY_RETURN_IF_ERROR(batcher_.Flush());
  FERRY_ASSIGN_OR_RETURN(const Relation* rel, FindRelation(m.relation_oid, 'D'));
  if (Skips(*rel)) return Status::OK();
  FERRY_RETURN_IF_ERROR(CheckTuple(*rel, m.old_tuple, "Delete"));
  ChangeEvent& e = NewEvent(*rel, ferry::v1::OP_DELETE);
  e.set_old_tuple(m.old_kind == 'O' ? ChangeEvent::OLD_FULL : ChangeEvent::OLD_KEY);
  FillColumns(*rel, m.old_tuple, e.mutable_old_columns());
  return Emit(RowKey(*rel, m.old_tuple), e);
}

Status EventBuilder::OnTruncate(const TruncateMessage& m) {
  if (Dropping()) return Status::OK();
  FERRY_RETURN_IF_ERROR(batcher_.Flush());
  for (uint32_t oid : m.relation_oids) {
    FERRY_ASSIGN_OR_RETURN(const Relation* rel, FindRelation(oid, 'T'));
    if (Skips(*rel)) continue;
    ChangeEvent& e = NewEvent(*rel, ferry::v1::OP_TRUNCATE);
    e.mutable_truncate()->set_cascade(m.cascade);
    e.mutable_truncate()->set_restart_identity(m.restart_identity);
    FERRY_RETURN_IF_ERROR(Emit(rel->table_key, e));
  }
  return Status::OK();
}

Status EventBuilder::OnMessage(const LogicalMessage& m) {
  spdlog::debug("logical message prefix='{}' ({} bytes) at {}", m.prefix, m.content.size(), m.lsn.ToString());
  if (!m.transactional || !in_tx_ || Dropping() || listener_ == nullptr) return Status::OK();
  FERRY_RETURN_IF_ERROR(batcher_.Flush());  // what the listener publishes follows
  return listener_->OnTransactionalMessage(m);
}

Status EventBuilder::PublishInTransaction(const std::string& key, ChangeEvent& e) {
  FERRY_RETURN_IF_ERROR(batcher_.Flush());
  return Emit(key, e);
}

}  // namespace ferry::capture
