#include "capture/capture_runner.h"

#include <malloc.h>

#include <spdlog/spdlog.h>

#include <chrono>
#include <map>
#include <optional>
#include <set>
#include <utility>

#include "capture/ack_tracker.h"
#include "capture/cluster_guard.h"
#include "capture/event_builder.h"
#include "capture/flow_control.h"
#include "capture/pgoutput_decoder.h"
#include "capture/replication_messages.h"
#include "capture/replication_stream.h"
#include "capture/row_fetcher.h"
#include "capture/slot_metrics.h"
#include "capture/snapshot_copier.h"
#include "capture/snapshot_incremental.h"
#include "capture/snapshot_progress.h"
#include "capture/snapshot_recopy.h"
#include "capture/status_publisher.h"
#include "checkpoint/position_store.h"
#include "common/ferry_metrics.h"
#include "common/signals.h"
#include "transport/capture_status.h"
#include "transport/cluster_info.h"
#include "transport/event_producer.h"
#include "transport/naming.h"
#include "transport/row_batch.h"

namespace ferry::capture {

namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kStatusInterval = std::chrono::seconds(10);
constexpr auto kMinStatusGap = std::chrono::milliseconds(100);
// Messages into one transaction past which the stream pauses less
// (ReplicationStream::set_in_large_transaction).
constexpr int64_t kLargeTransactionMessages = 64;
// Inserts into one table in a row, inside one transaction, from which on they
// travel in batches (--transaction-events batch): apply's COPY threshold
// (TargetWriterOptions::min_copy_rows), so a batch is what apply copies.
constexpr size_t kInsertBatchRows = 256;

// Publishes to Kafka and tracks acknowledgements for the current session.
class KafkaSink : public ChangeSink {
 public:
  KafkaSink(transport::EventProducer& producer, AckTracker& tracker, FlowControl* flow,
            IncrementalSnapshot& snapshot, std::string topic)
      : producer_(producer), tracker_(tracker), flow_(flow), snapshot_(snapshot), topic_(std::move(topic)) {}

  Status BeginTransaction(Lsn, Xid) override {
    tx_ = tracker_.BeginTx();
    return Status::OK();
  }
  Status Publish(const std::string& key, const ferry::v1::ChangeEvent& event) override {
    std::optional<ferry::v1::ChangeEvent> completed = snapshot_.OnStreamEvent(event, key);
    (completed ? *completed : event).SerializeToString(&buffer_);
    tracker_.EventSent(tx_);
    if (flow_ != nullptr) flow_->OnProduced(topic_, buffer_.size());
    if (event.op() != ferry::v1::OP_END) {  // a batch counts its rows
      const int64_t rows = transport::IsRowBatch(event.op()) ? event.row_count() : 1;
      published_ += rows;
      CounterFor(event).Increment(rows);
    }
    return producer_.Produce(topic_, key, buffer_, tx_, /*partition=*/0);
  }
  Status CommitTransaction(Lsn, Lsn end_lsn) override {
    tracker_.CommitTx(tx_, end_lsn);
    return Status::OK();
  }
  // Change events handed to Kafka so far (end markers not counted).
  int64_t published() const { return published_; }

 private:
  metrics::Counter& CounterFor(const ferry::v1::ChangeEvent& event) {
    std::string table = event.schema() + "." + event.table();
    auto it = counters_.find(table);
    if (it == counters_.end()) it = counters_.emplace(table, &metrics::CapturedEvents(table)).first;
    return *it->second;
  }

  transport::EventProducer& producer_;
  AckTracker& tracker_;
  FlowControl* flow_;
  IncrementalSnapshot& snapshot_;
  std::string topic_;
  uint64_t tx_ = 0;
  std::string buffer_;
  int64_t published_ = 0;
  std::map<std::string, metrics::Counter*> counters_;  // by schema.table
};

// Hands the builder's transactional messages to every snapshot method.
class Listeners : public MessageListener {
 public:
  Listeners(MessageListener& a, MessageListener& b) : a_(a), b_(b) {}
  Status OnTransactionalMessage(const LogicalMessage& m) override {
    FERRY_RETURN_IF_ERROR(a_.OnTransactionalMessage(m));
    return b_.OnTransactionalMessage(m);
  }

 private:
  MessageListener& a_;
  MessageListener& b_;
};

// A capture session's id (change_event.proto's capture_session): they increase
// across restarts, since apply drops an event of an older session than one it
// has seen (a late duplicate). The wall clock in microseconds, past the last id
// this state directory handed out.
Result<uint64_t> NextSessionId(checkpoint::PositionStore& store) {
  constexpr const char* kKey = "capture-session";
  FERRY_ASSIGN_OR_RETURN(std::optional<Lsn> last, store.GetLsn(kKey));
  uint64_t now = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                           std::chrono::system_clock::now().time_since_epoch())
                                           .count());
  uint64_t id = std::max(now, last.value_or(Lsn()).value() + 1);
  FERRY_RETURN_IF_ERROR(store.PutLsn(kKey, Lsn(id)));
  return id;
}

std::string SlotKey(const std::string& slot) { return "slot/" + slot; }

// Waits up to 30 s for Kafka to acknowledge what is in flight, or 3 s once a
// stop is requested: Kafka may be down, and the slot keeps what is not acked.
Status FlushUnlessStopped(transport::EventProducer& producer) {
  auto deadline = Clock::now() + std::chrono::seconds(30);
  while (producer.InFlight() > 0 && Clock::now() < deadline) {
    if (StopRequested()) deadline = std::min(deadline, Clock::now() + std::chrono::seconds(3));
    FERRY_RETURN_IF_ERROR(producer.FatalError());
    producer.Flush(100).PermitUncheckedError();  // a timeout: look again
  }
  if (producer.InFlight() == 0) return Status::OK();
  return Status::Unavailable(std::to_string(producer.InFlight()) + " events not acknowledged by Kafka");
}

class CaptureSession {
 public:
  CaptureSession(const CaptureOptions& o, checkpoint::PositionStore& store,
                 transport::EventProducer& producer, FlowControl* flow, StatusPublisher& status,
                 Status& delivery_error, uint64_t first_tx_id, std::optional<SourceInfo> prepared,
                 SnapshotProgress& progress)
      : o_(o), store_(store), producer_(producer), flow_(flow), status_(status), delivery_error_(delivery_error),
        first_tx_id_(first_tx_id), prepared_(std::move(prepared)), progress_(progress) {}

  // A delivery report of one of the session's producers.
  void OnDelivery(const transport::Delivery& d) {
    if (!d.status.ok()) {
      if (delivery_error_.ok()) delivery_error_ = d.status.WithContext("Kafka did not take an event");
      return;
    }
    OnAcked(d.token);
  }

  // Transaction ids stay unique across sessions, so a late report for an earlier
  // session's event can never be taken for one of this session's.
  void OnAcked(uint64_t tx) {
    if (tx & SnapshotCopier::kTokenBit) {
      if (copier_) copier_->OnAcked(tx);
    } else if (tracker_) {
      tracker_->EventAcked(tx);
    }
  }
  uint64_t next_tx_id() const { return tracker_ ? tracker_->next_id() : first_tx_id_; }

  Status Run() {
    if (!prepared_) {
      FERRY_ASSIGN_OR_RETURN(prepared_, PrepareSource(o_.source));
    }
    SourceInfo info = std::move(*prepared_);
    // Checked first: nothing runs against a source whose history is not the stored position's.
    FERRY_ASSIGN_OR_RETURN(Lsn start, ResumePoint(store_, SlotKey(o_.source.slot), info.slot_created,
                                                  info.slot_confirmed, info.identity, o_.source.slot));
    FERRY_ASSIGN_OR_RETURN(session_id_, NextSessionId(store_));
    if (info.exported) {
      FERRY_RETURN_IF_ERROR(CopyInitial(info));
      if (o_.snapshot == "only") return Status::OK();
    } else {
      FERRY_RETURN_IF_ERROR(ResumeInterruptedCopy());
    }
    SnapshotRecopy recopy(RecopyOptions{o_.source.conninfo, o_.source.slot, o_.source.publication, info.database,
                                        o_.snapshot_chunk_rows, &status_, o_.snapshot_events == "row"},
                          progress_);
    FERRY_ASSIGN_OR_RETURN(std::set<std::string> recopied, recopy.Prepare());
    IncrementalSnapshot incremental(IncrementalOptions{o_.source.conninfo, o_.source.slot, o_.source.publication, info.database,
                                                       o_.snapshot_chunk_rows, WindowDelay(), &status_},
                                    progress_);
    FERRY_RETURN_IF_ERROR(incremental.Load(recopied));
    FERRY_ASSIGN_OR_RETURN(stream_, ReplicationStream::Start({o_.source.conninfo, o_.source.slot, o_.source.publication,
                                                              start, o_.replication_timeout}));
    tracker_ = std::make_unique<AckTracker>(start, first_tx_id_);
    confirmed_sent_ = start;
    written_ = start;
    if (o_.slot_metrics) slot_metrics_ = std::make_unique<SlotMetrics>(o_.source.conninfo, o_.source.slot);
    KafkaSink sink(producer_, *tracker_, flow_, incremental, transport::ChangesTopic(o_.topic_prefix));
    PgRowFetcher fetcher(o_.source.conninfo);
    EventBuilder builder({info.database, start, session_id_, o_.replicate_origins,
                          o_.transaction_events == "batch" ? kInsertBatchRows : 0},
                         std::move(info.type_names), sink, &fetcher);
    Listeners listeners(incremental, recopy);
    builder.set_message_listener(&listeners);
    incremental.set_builder(&builder);
    recopy.set_builder(&builder);
    recopy.set_between_chunks([this] { return BetweenCopyChunks(); });
    incremental_ = &incremental;
    recopy_ = &recopy;
    Status st = Loop(builder, sink);
    FinishSession(st).PermitUncheckedError();
    incremental_ = nullptr;
    recopy_ = nullptr;
    return st;
  }

 private:
  static std::chrono::milliseconds WindowDelay() {
    const char* env = std::getenv("FERRY_SNAPSHOT_WINDOW_DELAY_MS");
    return std::chrono::milliseconds(env != nullptr ? std::atoll(env) : 0);
  }

  // The initial copy, in the snapshot the new slot exported; the exporting
  // connection is closed (the snapshot released) once every row is acknowledged.
  Status CopyInitial(SourceInfo& info) {
    // Its catalog queries and the copy's plan (not a worker: its own name).
    FERRY_ASSIGN_OR_RETURN(PgConn conn, PgConn::Connect(o_.source.conninfo,
                                                        {{"application_name", "ferry-snapshot-plan"},
                                                         {"options", kTextOutputOptions}}));
    FERRY_ASSIGN_OR_RETURN(auto tables, LoadPublicationTables(conn, o_.source.publication));
    CopyOptions co{o_.source.conninfo, info.exported->name, info.exported->consistent_point,
                   o_.snapshot_chunk_rows, o_.snapshot_workers, o_.snapshot_buffer_bytes,
                   transport::ChangesTopic(o_.topic_prefix),
                   info.database, session_id_};
    if (flow_ != nullptr) co.max_chunk_bytes = o_.flow_control_max_bytes;
    co.row_events = o_.snapshot_events == "row";
    co.status = &status_;
    std::unique_ptr<transport::EventProducer> own;
    if (!co.row_events) {
      FERRY_ASSIGN_OR_RETURN(own, CopyProducer());
    }
    transport::EventProducer& producer = own ? *own : producer_;
    // Flow control counts what the copy's producer holds.
    std::function<int64_t()> in_flight = flow_ != nullptr ? flow_->in_flight() : nullptr;
    if (own && flow_ != nullptr) {
      flow_->set_in_flight([&] { return (in_flight ? in_flight() : 0) + own->InFlight(); });
    }
    copier_ = std::make_unique<SnapshotCopier>(co, std::move(tables), progress_, producer, flow_, delivery_error_);
    Status st = copier_->Run(conn);
    copier_.reset();
    if (own && flow_ != nullptr) flow_->set_in_flight(in_flight);
    own.reset();
    info.exported.reset();
    malloc_trim(0);  // the copy's buffers (cli/main.cpp keeps freed memory until asked)
    FERRY_RETURN_IF_ERROR(st);
    return progress_.SetInitialState("done");
  }

  // The initial copy's own producer: its events are LZ4 blocks of rows already
  // (OP_READ_ROWS), so it does not compress their batches again, unless
  // --kafka-property says how (compressing them again cost capture about 30%
  // of its CPU on 4 kB rows, and apply decompressing them too). The stream
  // starts after every copied event is acknowledged, so the topic's order
  // does not depend on one producer sending both.
  Result<std::unique_ptr<transport::EventProducer>> CopyProducer() {
    transport::KafkaOptions kafka = o_.kafka;
    kafka.properties.insert(kafka.properties.begin(), {"compression.type", "none"});  // the user's apply after
    FERRY_ASSIGN_OR_RETURN(auto producer, transport::EventProducer::Create(
                                              kafka, [this](const transport::Delivery& d) { OnDelivery(d); },
                                              o_.producer));
    // Metadata first: a producer's first event to a topic waits for it.
    FERRY_RETURN_IF_ERROR(producer->EnsureTopic(transport::ChangesTopic(o_.topic_prefix),
                                                transport::TopicSpec{1, /*exact_partitions=*/true},
                                                o_.producer.connect_timeout_ms));
    return producer;
  }

  // A copy cut short lost its exported snapshot with its connection: the tables
  // and chunks not yet acknowledged are read by the incremental method instead,
  // or copied again at a new consistent point (snapshot_recopy.h) when they
  // have no key to resume by.
  Status ResumeInterruptedCopy() {
    FERRY_ASSIGN_OR_RETURN(auto state, progress_.InitialState());
    if (state != "running") return Status::OK();
    FERRY_ASSIGN_OR_RETURN(PgConn conn, PgConn::Connect(o_.source.conninfo));
    FERRY_ASSIGN_OR_RETURN(auto tables, LoadPublicationTables(conn, o_.source.publication));
    FERRY_ASSIGN_OR_RETURN(auto known, progress_.Tables());
    std::vector<TableProgress> missing;
    for (const auto& t : tables) {
      auto it = known.find(t.Display());
      if (it == known.end()) {
        TableProgress p;
        p.schema = t.schema;
        p.table = t.name;
        missing.push_back(std::move(p));
      }
    }
    FERRY_RETURN_IF_ERROR(progress_.Put(missing));
    spdlog::warn("the initial snapshot was interrupted and its exported snapshot is gone: its remaining chunks "
                 "are read incrementally, between watermarks, while streaming (tables without a key to resume by "
                 "are copied again whole)");
    return progress_.SetInitialState("incremental");
  }

  Status Loop(EventBuilder& builder, const KafkaSink& sink) {
    auto last_report = Clock::now();
    int64_t reported_events = 0;
    while (!StopRequested()) {
      if (!delivery_error_.ok()) {
        // Nothing past the failed event was confirmed: a new session resends it.
        FERRY_RETURN_IF_ERROR(producer_.FatalError());
        return Status::Unavailable(delivery_error_.message());
      }
      bool paused = false;
      if (flow_ != nullptr) {
        FERRY_ASSIGN_OR_RETURN(paused, flow_->ShouldPause());
      }
      if (o_.snapshot == "only" && !incremental_->busy() && !recopy_->busy()) {
        spdlog::info("snapshot finished (--snapshot only): stopping");
        return Status::OK();
      }
      if (paused) {
        producer_.Poll(10);  // flow control looks at Kafka every few tens of ms while paused
      } else {
        // An incremental snapshot's window sees each streamed row's change.
        FERRY_RETURN_IF_ERROR(builder.SetBatchInserts(!incremental_->busy()));
        FERRY_RETURN_IF_ERROR(incremental_->MaybeStartChunk());
        FERRY_RETURN_IF_ERROR(ReadOne(builder));
        producer_.Poll(0);
      }
      if (slot_metrics_) slot_metrics_->MaybeUpdate();
      FERRY_RETURN_IF_ERROR(MaybeSendStatus(false));
      if (Clock::now() - last_report > std::chrono::seconds(10)) {
        spdlog::info("captured {} events; confirmed {}; {} in flight{}{}", sink.published() - reported_events,
                     tracker_->Confirmable().ToString(), tracker_->EventsInFlight(),
                     paused ? "; " + flow_->Describe() : "", FerryOriginNote(builder));
        reported_events = sink.published();
        last_report = Clock::now();
      }
    }
    return Status::OK();
  }

  static std::string FerryOriginNote(const EventBuilder& builder) {
    int64_t n = builder.ferry_origin_transactions();
    if (n == 0) return "";
    return "; " + std::to_string(n) + " transactions a ferry apply wrote dropped so far";
  }

  Status ReadOne(EventBuilder& builder) {
    FERRY_ASSIGN_OR_RETURN(std::optional<std::string_view> raw, stream_->Next(100));
    if (!raw) return Status::OK();
    FERRY_ASSIGN_OR_RETURN(ReplicationMessage msg, ParseReplicationMessage(*raw));
    if (auto* x = std::get_if<XLogData>(&msg)) {
      builder.set_current_lsn(x->wal_start);
      written_ = std::max(written_, x->wal_end);
      Status st = PgOutputDecoder::Decode(x->payload, builder);
      if (!st.ok()) return st.WithContext("pgoutput message at " + x->wal_start.ToString());
      tx_messages_ = builder.in_transaction() ? tx_messages_ + 1 : 0;
      stream_->set_in_large_transaction(tx_messages_ >= kLargeTransactionMessages);
      return Status::OK();
    }
    const auto& k = std::get<PrimaryKeepalive>(msg);
    written_ = std::max(written_, k.wal_end);
    // Nothing decoded is waiting for Kafka: the server's position is safe to confirm,
    // so an idle source does not pin WAL.
    if (!builder.in_transaction()) tracker_->AdvanceIfIdle(k.wal_end);
    return MaybeSendStatus(k.reply_requested);
  }

  Status MaybeSendStatus(bool reply_requested) {
    auto now = Clock::now();
    Lsn confirmable = tracker_->Confirmable();
    bool due = reply_requested || now - last_status_ > kStatusInterval ||
               (confirmable > confirmed_sent_ && now - last_status_ > kMinStatusGap);
    if (!due) return Status::OK();
    return SendStatus(confirmable, reply_requested);
  }

  // The store first: what the server is told is confirmed, capture resumes after too.
  Status RecordConfirmed(Lsn confirmable) {
    if (incremental_ != nullptr) FERRY_RETURN_IF_ERROR(incremental_->RecordConfirmed(confirmable));
    if (recopy_ != nullptr) FERRY_RETURN_IF_ERROR(recopy_->RecordConfirmed(confirmable));
    if (confirmable <= confirmed_sent_) return Status::OK();
    return store_.PutLsn(SlotKey(o_.source.slot), confirmable);
  }

  Status SendStatus(Lsn confirmable, bool reply_requested) {
    FERRY_RETURN_IF_ERROR(RecordConfirmed(confirmable));
    FERRY_RETURN_IF_ERROR(stream_->SendStatus(std::max(written_, confirmable), confirmable, reply_requested));
    confirmed_sent_ = confirmable;
    last_status_ = Clock::now();
    metrics::CaptureConfirmedLsn().Set(static_cast<double>(confirmable.value()));
    return Status::OK();
  }

  // While a table is copied again inside a transaction of the stream, the
  // stream waits: Kafka is served, the server hears from capture, and the
  // copy waits while flow control pauses.
  Status BetweenCopyChunks() {
    producer_.Poll(0);
    if (!delivery_error_.ok()) return Status::Unavailable(delivery_error_.message());
    for (;;) {
      FERRY_RETURN_IF_ERROR(MaybeSendStatus(false));
      bool paused = false;
      if (flow_ != nullptr) {
        FERRY_ASSIGN_OR_RETURN(paused, flow_->ShouldPause());
      }
      if (!paused || StopRequested()) return Status::OK();
      producer_.Poll(10);
    }
  }

  // Waits for in-flight events so their transactions can be confirmed, then
  // records the position (and tells the server, if it still listens).
  Status FinishSession(const Status& why) {
    Status flushed = FlushUnlessStopped(producer_);
    if (!flushed.ok()) spdlog::warn("events still unacknowledged at stop: {}", flushed.ToString());
    Lsn confirmable = tracker_->Confirmable();
    FERRY_RETURN_IF_ERROR(why.ok() ? SendStatus(confirmable, false) : RecordConfirmed(confirmable));
    spdlog::info("capture session ended at confirmed LSN {}", confirmable.ToString());
    return Status::OK();
  }

  const CaptureOptions& o_;
  checkpoint::PositionStore& store_;
  transport::EventProducer& producer_;
  FlowControl* flow_;
  StatusPublisher& status_;
  Status& delivery_error_;
  uint64_t first_tx_id_;
  std::optional<SourceInfo> prepared_;  // the source as checked at start, for the first session
  SnapshotProgress& progress_;
  std::unique_ptr<SnapshotCopier> copier_;      // while the initial copy runs
  IncrementalSnapshot* incremental_ = nullptr;  // while streaming
  SnapshotRecopy* recopy_ = nullptr;            // while streaming
  std::unique_ptr<ReplicationStream> stream_;
  std::unique_ptr<AckTracker> tracker_;
  Lsn confirmed_sent_;
  Lsn written_;
  int64_t tx_messages_ = 0;  // read in the current transaction
  uint64_t session_id_ = 0;
  Clock::time_point last_status_{};
  std::unique_ptr<SlotMetrics> slot_metrics_;
};

Result<std::unique_ptr<FlowControl>> MakeFlowControl(const CaptureOptions& o, const transport::EventProducer& producer,
                                                     StatusPublisher& status) {
  if (o.flow_control != "auto" && o.flow_control != "on" && o.flow_control != "off") {
    return Status::InvalidArgument("--flow-control must be auto, on or off, not '" + o.flow_control + "'");
  }
  if (o.flow_control == "off") return std::unique_ptr<FlowControl>();
  FERRY_ASSIGN_OR_RETURN(std::string id, transport::FetchClusterId(o.kafka, 10000));
  const bool dev_broker = transport::IsDevBrokerClusterId(id);
  if (o.flow_control == "auto" && !dev_broker) return std::unique_ptr<FlowControl>();
  if (o.flow_control == "auto") spdlog::info("dev broker detected (cluster {}): flow control on", id);
  FlowControlOptions fo;
  fo.can_list_groups = !dev_broker;
  if (!o.flow_control_group.empty()) fo.groups = {o.flow_control_group};
  fo.max_partition_bytes = o.flow_control_max_bytes;
  fo.in_flight = [&producer] { return producer.InFlight(); };
  return FlowControl::Create(o.kafka, std::move(fo), &status);
}

// Capture's status for `ferry lag`, whether flow control is on or off. Best
// effort: without its topic capture goes on, and says so.
std::unique_ptr<StatusPublisher> MakeStatusPublisher(const CaptureOptions& o) {
  auto writer = transport::CaptureStatusWriter::Create(o.kafka, o.topic_prefix);
  if (!writer.ok()) {
    spdlog::warn("capture status topic {} not available ({}): `ferry lag` will not show capture's snapshot "
                 "progress nor flow control",
                 transport::CaptureStatusTopic(o.topic_prefix), writer.status().ToString());
  }
  return std::make_unique<StatusPublisher>(o.source.slot,
                                           writer.ok() ? std::move(writer).value() : nullptr);
}

// Before a slot for an initial copy is created: every table must be readable in
// key order, and the copy is recorded as due, so that a crash right after the
// slot exists cannot skip it.
Status PrepareInitialCopy(const PgConn& conn, const SourceOptions& source, SnapshotProgress& progress) {
  auto tables = LoadPublicationTables(conn, source.publication);
  if (!tables.ok()) {
    return tables.status().WithContext("initial snapshot (--snapshot never streams without copying)");
  }
  return progress.BeginInitial();
}

// A new slot's exported snapshot lives only as long as the connection that
// created it: a slot created while Kafka cannot take the copy would outlive its
// snapshot. So before creating one, capture makes sure Kafka answers.
Status RequireKafka(const CaptureOptions& o) {
  Result<std::string> id = transport::FetchClusterId(o.kafka, 10000);
  if (id.ok()) return Status::OK();
  return id.status().WithContext("capture creates replication slot \"" + o.source.slot +
                                 "\" only once Kafka answers, so that its initial snapshot is copied "
                                 "(check --brokers)");
}

Status CheckSnapshotMode(const CaptureOptions& o, const SourceInfo& info, SnapshotProgress& progress) {
  if (o.snapshot != "only" || info.slot_created) return Status::OK();
  FERRY_ASSIGN_OR_RETURN(auto state, progress.InitialState());
  if (state == "running") return Status::OK();  // an interrupted copy to finish
  FERRY_ASSIGN_OR_RETURN(auto tables, progress.Tables());
  for (const auto& [name, p] : tables) {
    if (!p.done) return Status::OK();  // its remaining chunks are read, then capture exits
  }
  return Status::InvalidArgument("--snapshot only copies the tables of a new slot, and slot \"" + o.source.slot +
                                 "\" exists: drop it, choose another --slot, or use `ferry snapshot` to "
                                 "re-snapshot tables of a running capture");
}

}  // namespace

Status RunCapture(const CaptureOptions& options) {
  if (options.snapshot != "initial" && options.snapshot != "never" && options.snapshot != "only") {
    return Status::InvalidArgument("--snapshot must be initial, never or only, not '" + options.snapshot + "'");
  }
  if (options.snapshot_chunk_rows < 1 || options.snapshot_workers < 1 || options.snapshot_buffer_bytes < 1) {
    return Status::InvalidArgument(
        "--snapshot-chunk-rows, --snapshot-workers and --snapshot-buffer-bytes must be at least 1");
  }
  FERRY_ASSIGN_OR_RETURN(auto store, checkpoint::RocksPositionStore::Open(options.state_dir + "/capture"));
  SnapshotProgress progress(*store, options.source.slot);
  CaptureOptions o = options;
  if (o.snapshot != "never") {
    o.source.export_snapshot = true;
    o.source.before_create_slot = [&o, &progress](const PgConn& conn) {
      FERRY_RETURN_IF_ERROR(RequireKafka(o));
      return PrepareInitialCopy(conn, o.source, progress);
    };
  }
  // Configuration mistakes on the source (wal_level, a foreign slot, unknown
  // tables) are reported before anything else; an unreachable source is retried below.
  std::optional<SourceInfo> prepared;
  if (auto pre = PrepareSource(o.source); pre.ok()) {
    prepared = std::move(pre).value();
    FERRY_RETURN_IF_ERROR(CheckSnapshotMode(o, *prepared, progress));
  } else if (!pre.status().IsRetriable()) {
    return pre.status();
  } else {
    spdlog::warn("{}; retrying", pre.status().ToString());
  }
  Status delivery_error;
  CaptureSession* current = nullptr;
  auto on_delivery = [&](const transport::Delivery& d) {
    if (current != nullptr) {
      current->OnDelivery(d);
    } else if (!d.status.ok() && delivery_error.ok()) {
      delivery_error = d.status.WithContext("Kafka did not take an event");
    }
  };
  FERRY_RETURN_IF_ERROR(CheckKafkaCluster(*store, o, SlotKey(o.source.slot)));
  FERRY_ASSIGN_OR_RETURN(auto producer, transport::EventProducer::Create(o.kafka, on_delivery, o.producer));
  // One partition, exactly: every event in the source's commit order.
  FERRY_RETURN_IF_ERROR(producer->EnsureTopic(transport::ChangesTopic(o.topic_prefix),
                                              transport::TopicSpec{1, /*exact_partitions=*/true},
                                              o.producer.connect_timeout_ms));
  std::unique_ptr<StatusPublisher> status = MakeStatusPublisher(o);
  FERRY_ASSIGN_OR_RETURN(auto flow, MakeFlowControl(o, *producer, *status));

  uint64_t next_tx_id = 1;
  for (int attempt = 0; !StopRequested(); ++attempt) {
    CaptureSession session(o, *store, *producer, flow.get(), *status, delivery_error, next_tx_id,
                           std::exchange(prepared, std::nullopt), progress);
    // Delivery reports are served only while a session runs (it flushes before it ends).
    current = &session;
    Status st = session.Run();
    current = nullptr;
    next_tx_id = session.next_tx_id();
    if (st.ok()) return Status::OK();
    if (!st.IsRetriable()) return st;
    auto wait = Backoff(attempt);
    spdlog::warn("{}; retrying in {} ms", st.ToString(), wait.count());
    delivery_error = Status::OK();
    SleepUnlessStopped(wait);
  }
  return Status::OK();
}

}  // namespace ferry::capture
