// EventBuilder: turns decoded pgoutput messages into ChangeEvents.
//
// It keeps the relation metadata pgoutput sends (Relation and Type messages),
// so no event needs a query to the source, and the current transaction's
// commit LSN, xid and commit time, which every event of it carries.
//
// Each row change becomes one event; an update that changes the key becomes a
// delete keyed by the old key followed by an update keyed by the new one (see
// change_event.proto). A truncate becomes one event per table. A transaction
// that published anything ends with an OP_END event (change_event.proto), so
// a reader knows when it has all of it.
//
// Such an update whose new row has unchanged-TOAST columns gets their values
// from the old row (REPLICA IDENTITY FULL sends it whole) or else from the
// source through a RowFetcher (see row_fetcher.h); if the row no longer exists
// there, a later event removes it, and the new-key half is not sent.
//
// Transactions whose commit LSN is below `skip_before` were already confirmed
// (the source resends them after its own crash): they are decoded and dropped.
// A table copied again at a new consistent point (snapshot_recopy.h) has its
// own such point: its changes committed before it are in the copy, dropped.
//
// Transactions of one of ferry's replication origins (the Origin message that
// follows Begin names one transport::IsFerryOrigin recognises: a ferry apply
// wrote them) are decoded and dropped too, unless replicate_origins: so two
// pipelines in opposite directions never send a row back where it came from.
// They still reach the sink's BeginTransaction and CommitTransaction, with no
// event, so the slot's confirmed position moves past them.
//
// Thread-safety: none; one capture loop owns it.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "capture/change_sink.h"
#include "capture/insert_batcher.h"
#include "capture/pgoutput_decoder.h"
#include "capture/row_fetcher.h"

namespace ferry::capture {

// Receives the transactional logical decoding messages (pg_logical_emit_message)
// of the transactions the builder publishes: snapshot watermarks and signals.
// It may add events to that transaction (EventBuilder::PublishInTransaction).
class MessageListener {
 public:
  virtual ~MessageListener() = default;
  virtual Status OnTransactionalMessage(const LogicalMessage& m) = 0;
};

struct BuilderOptions {
  std::string source_database;
  Lsn skip_before;  // transactions committed before this are dropped
  uint64_t capture_session = 0;  // set on every event (change_event.proto)
  // Keep the transactions of ferry's replication origins (--replicate-origins,
  // for chains A -> B -> C); default: drop them.
  bool replicate_origins = false;
  // A transaction's run of this many inserts into one table, or more, travels
  // in OP_INSERT_ROWS events (insert_batcher.h); 0: one event per insert
  // (--transaction-events row).
  size_t insert_batch_rows = 0;
};

class EventBuilder : public PgOutputHandler {
 public:
  // type_names: type OID -> name, as loaded from the source's pg_type at start;
  // Type messages extend it.
  // fetcher may be null when no source is at hand (tests); a key change that
  // needs it is then an error.
  EventBuilder(BuilderOptions options, std::unordered_map<uint32_t, std::string> type_names,
               ChangeSink& sink, RowFetcher* fetcher = nullptr);

  Status OnBegin(const BeginMessage& m) override;
  Status OnCommit(const CommitMessage& m) override;
  Status OnOrigin(const OriginMessage& m) override;
  Status OnRelation(const RelationMessage& m) override;
  Status OnType(const TypeMessage& m) override;
  Status OnInsert(const InsertMessage& m) override;
  Status OnUpdate(const UpdateMessage& m) override;
  Status OnDelete(const DeleteMessage& m) override;
  Status OnTruncate(const TruncateMessage& m) override;
  Status OnMessage(const LogicalMessage& m) override;

  // The WAL position of the message being handled; the capture loop sets it from
  // each XLogData before decoding, and events carry it as their own LSN.
  void set_current_lsn(Lsn lsn) { current_lsn_ = lsn; }
  bool in_transaction() const { return in_tx_; }
  Lsn commit_lsn() const { return commit_lsn_; }  // of the current transaction
  void set_message_listener(MessageListener* listener) { listener_ = listener; }
  // Transactions dropped so far because a ferry apply wrote them.
  int64_t ferry_origin_transactions() const { return ferry_origin_transactions_; }
  // Publishes `event` as the next event of the current transaction: the
  // transaction's commit LSN, xid, time and the next index are set here.
  // REQUIRES: in_transaction().
  Status PublishInTransaction(const std::string& key, ferry::v1::ChangeEvent& event);
  // Closes the events published since the last unit end (or the transaction's
  // start) as a unit of their own (an OP_END), so a reader applies them
  // without waiting for the rest of the transaction. No-op when there are none.
  // REQUIRES: in_transaction().
  Status EndUnitInTransaction();
  // Whether runs of inserts may travel in batches (with insert_batch_rows):
  // not while an incremental snapshot's window must see each row's change.
  // Turning it off sends what is kept first.
  Status SetBatchInserts(bool on);
  // Drops the changes of schema.table in transactions committed before `lsn`.
  void SkipTableBefore(const std::string& schema, const std::string& table, Lsn lsn);

 private:
  struct Column {
    std::string name;
    uint32_t type_oid;
    int32_t type_modifier;
    bool is_key;
  };
  struct Relation {
    std::string schema, name;
    // Kafka key of changes that concern the whole table (a truncate, or any row
    // of a table without a key), so they stay in one partition, in order.
    std::string table_key;
    char replica_identity;
    std::vector<Column> columns;
    std::vector<std::string> key_columns;
    Lsn skip_before;  // SkipTableBefore's point for this table
  };

  Result<const Relation*> FindRelation(uint32_t oid, char message) const;
  Status CheckTuple(const Relation& rel, const Tuple& tuple, const char* what) const;
  // The event to fill: the builder's one, cleared (valid until the next call).
  ferry::v1::ChangeEvent& NewEvent(const Relation& rel, ferry::v1::Operation op);
  void FillColumns(const Relation& rel, const Tuple& tuple,
                   google::protobuf::RepeatedPtrField<ferry::v1::Column>* out) const;
  // Kafka key from the key columns of `tuple`; table_key for a table without one.
  std::string RowKey(const Relation& rel, const Tuple& tuple) const;
  bool KeyChanged(const Relation& rel, const Tuple& old_tuple, const Tuple& new_tuple) const;
  // Replaces the unchanged-TOAST values of a key-changing update's new row (see
  // above), owning fetched values in `storage`. False when the row is gone.
  Result<bool> CompleteMovedRow(const Relation& rel, const UpdateMessage& m, Tuple* row,
                                std::vector<std::string>* storage);
  Status Emit(const std::string& key, ferry::v1::ChangeEvent& event);
  // As Emit, for an event of an earlier message (at `lsn`) that the batcher kept.
  Status EmitAt(const std::string& key, ferry::v1::ChangeEvent& event, Lsn lsn);
  // The commit fields of the current transaction, the session, the next index.
  void Stamp(ferry::v1::ChangeEvent& event);
  Status PublishEnd(Lsn end_lsn);
  // The relation's changes in the current transaction are dropped.
  bool Skips(const Relation& rel) const { return commit_lsn_ < rel.skip_before; }
  std::string TypeName(uint32_t oid) const;
  // The current transaction publishes nothing (already confirmed, or a ferry apply's).
  bool Dropping() const { return skipping_ || from_ferry_; }

  BuilderOptions options_;
  std::unordered_map<uint32_t, std::string> type_names_;
  ChangeSink& sink_;
  RowFetcher* fetcher_;
  MessageListener* listener_ = nullptr;
  std::unordered_map<uint32_t, Relation> relations_;
  std::unordered_map<std::string, Lsn> table_skips_;  // "schema.table" -> SkipTableBefore's lsn
  ferry::v1::ChangeEvent scratch_;  // NewEvent's
  InsertBatcher batcher_;
  bool batch_inserts_ = false;

  // Current transaction.
  bool in_tx_ = false;
  bool skipping_ = false;
  bool from_ferry_ = false;  // of one of ferry's replication origins
  Lsn commit_lsn_;
  Xid xid_;
  int64_t commit_time_us_ = 0;
  uint32_t index_in_tx_ = 0;
  uint32_t unit_start_ = 0;  // index of the current unit's first event
  std::string origin_;
  Lsn current_lsn_;
  int64_t ferry_origin_transactions_ = 0;
};

}  // namespace ferry::capture
