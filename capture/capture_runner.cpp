#include "capture/capture_runner.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <map>
#include <optional>
#include <utility>

#include "capture/ack_tracker.h"
#include "capture/event_builder.h"
#include "capture/flow_control.h"
#include "capture/pgoutput_decoder.h"
#include "capture/replication_messages.h"
#include "capture/replication_stream.h"
#include "capture/row_fetcher.h"
#include "capture/slot_metrics.h"
#include "checkpoint/position_store.h"
#include "common/ferry_metrics.h"
#include "common/signals.h"
#include "transport/cluster_info.h"
#include "transport/event_producer.h"

namespace ferry::capture {

namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kStatusInterval = std::chrono::seconds(10);
constexpr auto kMinStatusGap = std::chrono::milliseconds(100);

// Publishes to Kafka and tracks acknowledgements for the current session.
class KafkaSink : public ChangeSink {
 public:
  KafkaSink(transport::EventProducer& producer, AckTracker& tracker, FlowControl* flow)
      : producer_(producer), tracker_(tracker), flow_(flow) {}

  Status BeginTransaction(Lsn, Xid) override {
    tx_ = tracker_.BeginTx();
    return Status::OK();
  }
  Status Publish(const std::string& topic, const std::string& key,
                 const ferry::v1::ChangeEvent& event) override {
    event.SerializeToString(&buffer_);
    tracker_.EventSent(tx_);
    if (flow_ != nullptr) flow_->OnProduced(topic, buffer_.size());
    ++published_;
    CounterFor(topic, event).Increment();
    return producer_.Produce(topic, key, buffer_, tx_);
  }
  Status CommitTransaction(Lsn, Lsn end_lsn) override {
    tracker_.CommitTx(tx_, end_lsn);
    return Status::OK();
  }
  // Events handed to Kafka so far.
  int64_t published() const { return published_; }

 private:
  metrics::Counter& CounterFor(const std::string& topic, const ferry::v1::ChangeEvent& event) {
    auto it = counters_.find(topic);
    if (it == counters_.end()) {
      it = counters_.emplace(topic, &metrics::CapturedEvents(event.schema() + "." + event.table())).first;
    }
    return *it->second;
  }

  transport::EventProducer& producer_;
  AckTracker& tracker_;
  FlowControl* flow_;
  uint64_t tx_ = 0;
  std::string buffer_;
  int64_t published_ = 0;
  std::map<std::string, metrics::Counter*> counters_;  // by topic
};

std::string SlotKey(const std::string& slot) { return "slot/" + slot; }

class CaptureSession {
 public:
  CaptureSession(const CaptureOptions& o, checkpoint::PositionStore& store,
                 transport::EventProducer& producer, FlowControl* flow, Status& delivery_error,
                 uint64_t first_tx_id, std::optional<SourceInfo> prepared)
      : o_(o), store_(store), producer_(producer), flow_(flow), delivery_error_(delivery_error),
        first_tx_id_(first_tx_id), prepared_(std::move(prepared)) {}

  // Transaction ids stay unique across sessions, so a late report for an earlier
  // session's event can never be taken for one of this session's.
  void OnAcked(uint64_t tx) {
    if (tracker_) tracker_->EventAcked(tx);
  }
  uint64_t next_tx_id() const { return tracker_ ? tracker_->next_id() : first_tx_id_; }

  Status Run() {
    if (!prepared_) {
      FERRY_ASSIGN_OR_RETURN(prepared_, PrepareSource(o_.source));
    }
    SourceInfo info = std::move(*prepared_);
    FERRY_ASSIGN_OR_RETURN(std::optional<Lsn> stored, store_.GetLsn(SlotKey(o_.source.slot)));
    // After a source crash the slot can be behind what we confirmed: resume from the later.
    Lsn start = std::max(info.slot_confirmed, stored.value_or(Lsn()));
    FERRY_ASSIGN_OR_RETURN(stream_, ReplicationStream::Start(
                                        {o_.source.conninfo, o_.source.slot, o_.source.publication, start}));
    tracker_ = std::make_unique<AckTracker>(start, first_tx_id_);
    confirmed_sent_ = start;
    written_ = start;
    if (o_.slot_metrics) slot_metrics_ = std::make_unique<SlotMetrics>(o_.source.conninfo, o_.source.slot);
    KafkaSink sink(producer_, *tracker_, flow_);
    PgRowFetcher fetcher(o_.source.conninfo);
    EventBuilder builder({info.database, o_.topic_prefix, start}, std::move(info.type_names), sink,
                         &fetcher);
    Status st = Loop(builder, sink);
    FinishSession(st).PermitUncheckedError();
    return st;
  }

 private:
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
      if (paused) {
        producer_.Poll(100);
      } else {
        FERRY_RETURN_IF_ERROR(ReadOne(builder));
        producer_.Poll(0);
      }
      if (slot_metrics_) slot_metrics_->MaybeUpdate();
      FERRY_RETURN_IF_ERROR(MaybeSendStatus(false));
      if (Clock::now() - last_report > std::chrono::seconds(10)) {
        spdlog::info("captured {} events; confirmed {}; {} in flight{}", sink.published() - reported_events,
                     tracker_->Confirmable().ToString(), tracker_->EventsInFlight(),
                     paused ? "; paused by flow control" : "");
        reported_events = sink.published();
        last_report = Clock::now();
      }
    }
    return Status::OK();
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

  // Waits for in-flight events so their transactions can be confirmed, then
  // records the position (and tells the server, if it still listens).
  Status FinishSession(const Status& why) {
    Status flushed = producer_.Flush(30000);
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
  Status& delivery_error_;
  uint64_t first_tx_id_;
  std::optional<SourceInfo> prepared_;  // the source as checked at start, for the first session
  std::unique_ptr<ReplicationStream> stream_;
  std::unique_ptr<AckTracker> tracker_;
  Lsn confirmed_sent_;
  Lsn written_;
  Clock::time_point last_status_{};
  std::unique_ptr<SlotMetrics> slot_metrics_;
};

Result<std::unique_ptr<FlowControl>> MakeFlowControl(const CaptureOptions& o) {
  bool on = o.flow_control == "on";
  if (o.flow_control == "auto") {
    FERRY_ASSIGN_OR_RETURN(std::string id, transport::FetchClusterId(o.kafka, 10000));
    on = transport::IsDevBrokerClusterId(id);
    if (on) spdlog::info("dev broker detected (cluster {}): flow control on", id);
  } else if (o.flow_control != "on" && o.flow_control != "off") {
    return Status::InvalidArgument("--flow-control must be auto, on or off, not '" + o.flow_control + "'");
  }
  if (!on) return std::unique_ptr<FlowControl>();
  FERRY_ASSIGN_OR_RETURN(auto monitor, transport::GroupLagMonitor::Create(o.kafka, o.flow_control_group));
  FlowControlOptions fo;
  fo.group = o.flow_control_group;
  fo.max_partition_bytes = o.flow_control_max_bytes;
  return std::make_unique<FlowControl>(fo, std::move(monitor));
}


}  // namespace

Status RunCapture(const CaptureOptions& o) {
  FERRY_ASSIGN_OR_RETURN(auto store, checkpoint::RocksPositionStore::Open(o.state_dir + "/capture"));
  // Configuration mistakes on the source (wal_level, a foreign slot, unknown
  // tables) are reported before anything else; an unreachable source is retried below.
  std::optional<SourceInfo> prepared;
  if (auto pre = PrepareSource(o.source); pre.ok()) {
    prepared = std::move(pre).value();
  } else if (!pre.status().IsRetriable()) {
    return pre.status();
  }
  Status delivery_error;
  CaptureSession* current = nullptr;
  auto on_delivery = [&](const transport::Delivery& d) {
    if (!d.status.ok()) {
      if (delivery_error.ok()) delivery_error = d.status.WithContext("Kafka did not take an event");
      return;
    }
    if (current != nullptr) current->OnAcked(d.token);
  };
  FERRY_ASSIGN_OR_RETURN(auto producer, transport::EventProducer::Create(o.kafka, on_delivery));
  FERRY_ASSIGN_OR_RETURN(auto flow, MakeFlowControl(o));

  uint64_t next_tx_id = 1;
  for (int attempt = 0; !StopRequested(); ++attempt) {
    CaptureSession session(o, *store, *producer, flow.get(), delivery_error, next_tx_id,
                           std::exchange(prepared, std::nullopt));
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
