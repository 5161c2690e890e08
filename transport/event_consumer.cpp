#include "transport/event_consumer.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>

#include "common/ferry_metrics.h"
#include "transport/rdkafka_util.h"

namespace ferry::transport {

namespace {

// How long one broker round trip made inside a rebalance may take.
constexpr int kBrokerTimeoutMs = 10000;

const Properties kConsumerDefaults = {
    {"enable.auto.commit", "false"},  // apply commits after its own durable write
    {"enable.auto.offset.store", "false"},
    {"auto.offset.reset", "error"},                  // a lost position is reported, never skipped
    {"topic.metadata.refresh.interval.ms", "2000"},  // new topics picked up quickly
    // Low latency: a caught-up consumer gets a new message within milliseconds.
    // Kafka answers a waiting fetch as soon as data arrives; the dev broker
    // answers an empty one only after this wait, so it is a caught-up apply's
    // delay there: 5 ms, not 10, took the benchmark's steady 2,000 tx/s row lag
    // from p50 13 / p99 23 ms to 9 / 18.
    {"fetch.wait.max.ms", "5"},
    // A standby member takes over a dead one's partitions within seconds.
    {"session.timeout.ms", "10000"},
    {"heartbeat.interval.ms", "1000"},
    // Memory: what is fetched ahead of apply stays bounded (16 MiB).
    {"queued.max.messages.kbytes", "16384"},
};

// Keeps the error for the caller: DataLoss before any other, and every lost
// partition named.
void AddError(Status& pending, const Status& error) {
  bool pending_loss = pending.code() == Status::Code::kDataLoss;
  bool new_loss = error.code() == Status::Code::kDataLoss;
  if (pending.ok() || (new_loss && !pending_loss)) {
    pending = error;
  } else if (pending_loss && new_loss) {
    pending = Status::DataLoss(pending.message() + "; " + error.message());
  }
}

// `what`: "stored position" (where apply resumes) or "read position".
Status LostBelowStart(const TopicPartition& tp, const std::string& what, int64_t position,
                      int64_t log_start) {
  return Status::DataLoss("events lost on " + tp.ToString() + ": the " + what + " " +
                          std::to_string(position) + " is below the log start offset " +
                          std::to_string(log_start) + ", so offsets " + std::to_string(position) +
                          ".." + std::to_string(log_start - 1) +
                          " were deleted by the broker before they were applied");
}

Status LostBeyondEnd(const TopicPartition& tp, const std::string& what, int64_t position,
                     int64_t log_end) {
  return Status::DataLoss("events lost on " + tp.ToString() + ": the " + what + " " +
                          std::to_string(position) + " is beyond the log end offset " +
                          std::to_string(log_end) +
                          ", so the broker lost messages it had acknowledged (a restarted dev "
                          "broker is empty)");
}

}  // namespace

struct EventConsumer::Impl {
  ~Impl() {
    if (rk != nullptr && !closed) rd_kafka_consumer_close(rk.get());
  }

  static void OnRebalance(rd_kafka_t*, rd_kafka_resp_err_t err,
                          rd_kafka_topic_partition_list_t* parts, void* opaque) {
    static_cast<Impl*>(opaque)->Rebalance(err, parts);
  }
  static void OnCommit(rd_kafka_t*, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* offsets,
                       void* opaque);
  void Rebalance(rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* parts);
  Status Commit(const std::map<TopicPartition, int64_t>& offsets,
                const std::map<TopicPartition, std::string>& metadata);
  Status ChooseStarts(rd_kafka_topic_partition_list_t* parts);
  void CommitStaleGroupOffsets();
  Status Assign(rd_kafka_topic_partition_list_t* parts);
  Status Unassign(rd_kafka_topic_partition_list_t* parts);
  Status MessageError(const rd_kafka_message_t& m);

  StartOffsetFn start_offset;
  RevokeFn on_revoke;
  uint64_t generation = 0;
  // Partitions whose stored position is past the group's committed offset
  // (apply stopped between its RocksDB write and the group commit).
  std::map<TopicPartition, int64_t> stale_group_offsets;
  // The latest commit asked for, per assigned partition, with its metadata:
  // sent again after a failed commit so that the group does not stay behind.
  std::map<TopicPartition, std::pair<int64_t, std::string>> latest_commit;
  bool commit_failed = false;
  Status pending;  // returned by the next PollBatch
  bool closed = false;
  KafkaPtr rk;
};

namespace {

void OnClientError(rd_kafka_t* rk, int err, const char* reason, void*) {
  metrics::ConsumerErrors().Increment();
  if (err == RD_KAFKA_RESP_ERR__FATAL) {
    spdlog::error("Kafka consumer fatal error: {}", FatalErrorText(rk));
  } else {
    spdlog::warn("Kafka consumer: {} ({})", reason,
                 rd_kafka_err2name(static_cast<rd_kafka_resp_err_t>(err)));
  }
}

}  // namespace

// Served on the polling thread. A failure is retried by the next PollBatch.
void EventConsumer::Impl::OnCommit(rd_kafka_t*, rd_kafka_resp_err_t err,
                                   rd_kafka_topic_partition_list_t* offsets, void* opaque) {
  bool& failed = static_cast<Impl*>(opaque)->commit_failed;
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR && err != RD_KAFKA_RESP_ERR__NO_OFFSET) {
    spdlog::warn("committing offsets to the group failed (retried): {}", KafkaErrorText(err));
    failed = true;
    return;
  }
  for (int i = 0; offsets != nullptr && i < offsets->cnt; ++i) {
    const rd_kafka_topic_partition_t& p = offsets->elems[i];
    if (p.err) {
      spdlog::warn("committing offset {} of {}[{}] failed (retried): {}", p.offset, p.topic, p.partition,
                   KafkaErrorText(p.err));
      failed = true;
    }
  }
}

namespace {

Status ErrorStatus(ErrorPtr error, const std::string& what) {
  if (error == nullptr) return Status::OK();
  return Status::Internal(what + ": " + rd_kafka_error_string(error.get()));
}

bool Cooperative(rd_kafka_t* rk) {
  return std::strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
}

}  // namespace

void EventConsumer::Impl::Rebalance(rd_kafka_resp_err_t err,
                                    rd_kafka_topic_partition_list_t* parts) {
  Status st;
  ++generation;
  if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
    st = ChooseStarts(parts);
    // A lost partition is assigned anyway: fetching from it fails again
    // (auto.offset.reset=error), so the loss is never skipped over. Without a
    // start position, nothing is assigned and the caller gets the error.
    PartitionListPtr none(rd_kafka_topic_partition_list_new(0));
    bool usable = st.ok() || st.code() == Status::Code::kDataLoss;
    Status assigned = Assign(usable ? parts : none.get());
    if (!assigned.ok()) AddError(pending, assigned);
    if (st.ok() && assigned.ok()) CommitStaleGroupOffsets();
  } else {
    if (err != RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
      spdlog::warn("Kafka rebalance error: {}", KafkaErrorText(err));
    }
    std::vector<TopicPartition> revoked;
    for (int i = 0; parts != nullptr && i < parts->cnt; ++i) {
      latest_commit.erase({parts->elems[i].topic, parts->elems[i].partition});
      revoked.push_back({parts->elems[i].topic, parts->elems[i].partition});
    }
    if (on_revoke) on_revoke(revoked);
    st = Unassign(parts);
  }
  if (!st.ok()) AddError(pending, st);
}

// The group's offsets and the log bounds only inform (and check); a broker
// that does not answer them during a rebalance does not keep the partition
// unassigned: the start is the caller's position (or the log's beginning), and
// a position out of the log is still reported, by the fetch (auto.offset.reset
// is error).
Status EventConsumer::Impl::ChooseStarts(rd_kafka_topic_partition_list_t* parts) {
  stale_group_offsets.clear();
  PartitionListPtr committed(rd_kafka_topic_partition_list_copy(parts));
  rd_kafka_resp_err_t err = rd_kafka_committed(rk.get(), committed.get(), kBrokerTimeoutMs);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    spdlog::warn("reading the group's committed offsets: {}; assigning without them", KafkaErrorText(err));
    committed.reset(rd_kafka_topic_partition_list_new(0));
  }
  Status losses;
  for (int i = 0; i < parts->cnt; ++i) {
    rd_kafka_topic_partition_t& p = parts->elems[i];
    TopicPartition tp{p.topic, p.partition};
    std::optional<int64_t> stored;
    if (start_offset) {
      Result<std::optional<int64_t>> r = start_offset(tp);
      if (!r.ok()) return r.status().WithContext("start position of " + tp.ToString());
      stored = *r;
    }
    const rd_kafka_topic_partition_t* c =
        rd_kafka_topic_partition_list_find(committed.get(), p.topic, p.partition);
    std::optional<int64_t> group;
    if (c != nullptr && c->err == RD_KAFKA_RESP_ERR_NO_ERROR && c->offset >= 0) group = c->offset;
    Result<Watermarks> w = QueryWatermarks(rk.get(), tp, kBrokerTimeoutMs);
    if (!w.ok()) {
      spdlog::warn("{}: {}; starting at {} without checking it against the log", tp.ToString(),
                   w.status().ToString(), stored ? std::to_string(*stored) : "the log's beginning");
      p.offset = stored.value_or(RD_KAFKA_OFFSET_BEGINNING);
      continue;
    }
    // The caller's position is the truth (the target commits it with the
    // rows); the group's offset may be another target's, or lag behind.
    int64_t start = stored.value_or(w->low);
    if (!stored && group && *group > w->low) {
      spdlog::warn("{}: the group committed offset {}, but there is no applied position: starting at the "
                   "log start {} (a new target gets every event)",
                   tp.ToString(), *group, w->low);
    }
    if (stored && *stored > group.value_or(-1)) stale_group_offsets[tp] = *stored;
    spdlog::info("{}: starting at offset {} (stored {}, group committed {}, log {}..{})",
                 tp.ToString(), start, stored ? std::to_string(*stored) : "none",
                 group ? std::to_string(*group) : "none", w->low, w->high);
    // Nothing applied yet, and the log no longer starts at 0: its first events
    // were deleted (the dev broker's eviction, retention) before any apply
    // read them. Starting at the log start would skip them without a word.
    if (!stored && w->low > 0) {
      AddError(losses, Status::DataLoss(
                           "events lost on " + tp.ToString() + ": nothing was applied from it yet, but its log "
                           "starts at offset " + std::to_string(w->low) + ", so offsets 0.." +
                           std::to_string(w->low - 1) + " were deleted by the broker (the dev broker's eviction, "
                           "or retention) before any apply read them; a new target needs every event from the "
                           "first: start the pipeline again from a new initial snapshot (a new slot and "
                           "--topic-prefix)"));
    }
    if (start < w->low) AddError(losses, LostBelowStart(tp, "stored position", start, w->low));
    if (start > w->high) AddError(losses, LostBeyondEnd(tp, "stored position", start, w->high));
    p.offset = start;
  }
  return losses;
}

// Without this, an idle pipeline would show lag forever (`ferry lag` reads
// the group's offsets) for events apply applied before it stopped.
void EventConsumer::Impl::CommitStaleGroupOffsets() {
  if (stale_group_offsets.empty()) return;
  PartitionListPtr list(rd_kafka_topic_partition_list_new(static_cast<int>(stale_group_offsets.size())));
  for (const auto& [tp, offset] : stale_group_offsets) {
    rd_kafka_topic_partition_list_add(list.get(), tp.topic.c_str(), tp.partition)->offset = offset;
  }
  stale_group_offsets.clear();
  rd_kafka_resp_err_t err = rd_kafka_commit(rk.get(), list.get(), /*async=*/1);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    spdlog::warn("committing apply's stored positions to the group: {}", KafkaErrorText(err));
  }
}

Status EventConsumer::Impl::Assign(rd_kafka_topic_partition_list_t* parts) {
  if (Cooperative(rk.get())) {
    return ErrorStatus(ErrorPtr(rd_kafka_incremental_assign(rk.get(), parts)),
                       "assigning partitions");
  }
  rd_kafka_resp_err_t err = rd_kafka_assign(rk.get(), parts);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) return KafkaStatus(err, "assigning partitions");
  return Status::OK();
}

Status EventConsumer::Impl::Unassign(rd_kafka_topic_partition_list_t* parts) {
  if (Cooperative(rk.get())) {
    return ErrorStatus(ErrorPtr(rd_kafka_incremental_unassign(rk.get(), parts)),
                       "revoking partitions");
  }
  rd_kafka_resp_err_t err = rd_kafka_assign(rk.get(), nullptr);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) return KafkaStatus(err, "revoking partitions");
  return Status::OK();
}

Status EventConsumer::Impl::MessageError(const rd_kafka_message_t& m) {
  switch (m.err) {
    case RD_KAFKA_RESP_ERR__PARTITION_EOF:
      return Status::OK();
    case RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE:
    case RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET: {
      // The position being fetched is no longer (or not yet) in the log.
      TopicPartition tp{m.rkt ? rd_kafka_topic_name(m.rkt) : "?", m.partition};
      spdlog::error("{}: {}", tp.ToString(), rd_kafka_message_errstr(&m));
      FERRY_ASSIGN_OR_RETURN(Watermarks w, QueryWatermarks(rk.get(), tp, kBrokerTimeoutMs));
      if (m.offset > w.high) return LostBeyondEnd(tp, "read position", m.offset, w.high);
      return LostBelowStart(tp, "read position", m.offset, w.low);
    }
    case RD_KAFKA_RESP_ERR__FATAL:
      return Status::Internal("Kafka consumer fatal error: " + FatalErrorText(rk.get()));
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED:
      return Status::InvalidArgument(std::string("Kafka consumer: ") + rd_kafka_message_errstr(&m));
    default:
      // Transient (brokers down, leadership moving): librdkafka retries.
      metrics::ConsumerErrors().Increment();
      spdlog::warn("Kafka consumer: {} ({})", rd_kafka_message_errstr(&m),
                   rd_kafka_err2name(m.err));
      return Status::OK();
  }
}

EventConsumer::EventConsumer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
EventConsumer::~EventConsumer() = default;

Result<std::unique_ptr<EventConsumer>> EventConsumer::Create(const KafkaOptions& options,
                                                             const std::string& group_id,
                                                             const std::string& topic_regex,
                                                             StartOffsetFn start_offset, RevokeFn on_revoke) {
  if (group_id.empty()) return Status::InvalidArgument("the consumer group id is empty");
  auto impl = std::make_unique<Impl>();
  impl->start_offset = std::move(start_offset);
  impl->on_revoke = std::move(on_revoke);
  Properties defaults = kConsumerDefaults;
  defaults.insert(defaults.begin(), {"group.id", group_id});
  FERRY_ASSIGN_OR_RETURN(ConfPtr conf, MakeConf(options, defaults));
  rd_kafka_conf_set_opaque(conf.get(), impl.get());
  rd_kafka_conf_set_rebalance_cb(conf.get(), &Impl::OnRebalance);
  rd_kafka_conf_set_offset_commit_cb(conf.get(), &Impl::OnCommit);
  rd_kafka_conf_set_error_cb(conf.get(), &OnClientError);
  FERRY_ASSIGN_OR_RETURN(impl->rk, NewClient(RD_KAFKA_CONSUMER, std::move(conf)));
  rd_kafka_poll_set_consumer(impl->rk.get());

  PartitionListPtr subscription(rd_kafka_topic_partition_list_new(1));
  rd_kafka_topic_partition_list_add(subscription.get(), topic_regex.c_str(), RD_KAFKA_PARTITION_UA);
  rd_kafka_resp_err_t err = rd_kafka_subscribe(impl->rk.get(), subscription.get());
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return Status::InvalidArgument("subscribing to '" + topic_regex + "': " + KafkaErrorText(err));
  }
  return std::unique_ptr<EventConsumer>(new EventConsumer(std::move(impl)));
}

Result<std::vector<ConsumedMessage>> EventConsumer::PollBatch(size_t max_messages, int timeout_ms) {
  if (impl_->commit_failed && !impl_->latest_commit.empty()) {
    impl_->commit_failed = false;
    std::map<TopicPartition, int64_t> offsets;
    std::map<TopicPartition, std::string> metadata;
    for (const auto& [tp, c] : impl_->latest_commit) {
      offsets[tp] = c.first;
      metadata[tp] = c.second;
    }
    impl_->Commit(offsets, metadata).PermitUncheckedError();  // a failure sets commit_failed again
  }
  if (!impl_->pending.ok()) return std::exchange(impl_->pending, Status::OK());
  std::vector<ConsumedMessage> out;
  int wait_ms = timeout_ms;
  while (out.size() < max_messages) {
    MessagePtr m(rd_kafka_consumer_poll(impl_->rk.get(), wait_ms));
    if (m == nullptr || !impl_->pending.ok()) break;  // a rebalance may have set `pending`
    wait_ms = 0;
    if (m->err) {
      Status st = impl_->MessageError(*m);
      if (!st.ok()) {
        AddError(impl_->pending, st);
        break;
      }
      continue;
    }
    ConsumedMessage& c = out.emplace_back();
    c.tp = {rd_kafka_topic_name(m->rkt), m->partition};
    c.offset = m->offset;
    c.generation = impl_->generation;
    if (m->key) c.key.assign(static_cast<const char*>(m->key), m->key_len);
    if (m->payload) c.value.assign(static_cast<const char*>(m->payload), m->len);
  }
  // Messages read before an error are returned first; the error comes next call.
  if (out.empty() && !impl_->pending.ok()) return std::exchange(impl_->pending, Status::OK());
  return out;
}

Status EventConsumer::Impl::Commit(const std::map<TopicPartition, int64_t>& offsets,
                                   const std::map<TopicPartition, std::string>& metadata) {
  PartitionListPtr list(rd_kafka_topic_partition_list_new(static_cast<int>(offsets.size())));
  for (const auto& [tp, offset] : offsets) {
    rd_kafka_topic_partition_t* p = rd_kafka_topic_partition_list_add(list.get(), tp.topic.c_str(), tp.partition);
    p->offset = offset;
    auto m = metadata.find(tp);
    if (m != metadata.end() && !m->second.empty()) {
      // The list owns and frees `metadata` (rd_kafka_topic_partition_destroy).
      p->metadata = rd_kafka_mem_malloc(nullptr, m->second.size());
      std::memcpy(p->metadata, m->second.data(), m->second.size());
      p->metadata_size = m->second.size();
    }
  }
  rd_kafka_resp_err_t err = rd_kafka_commit(rk.get(), list.get(), /*async=*/1);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    commit_failed = true;
    return KafkaStatus(err, "committing offsets");
  }
  return Status::OK();
}

Status EventConsumer::CommitOffsets(const std::map<TopicPartition, int64_t>& next_offsets,
                                    const std::map<TopicPartition, std::string>& metadata) {
  if (next_offsets.empty()) return Status::OK();
  for (const auto& [tp, offset] : next_offsets) {
    auto m = metadata.find(tp);
    impl_->latest_commit[tp] = {offset, m == metadata.end() ? std::string() : m->second};
  }
  return impl_->Commit(next_offsets, metadata);
}

int64_t EventConsumer::EventsBehind() const {
  rd_kafka_topic_partition_list_t* raw = nullptr;
  if (rd_kafka_assignment(impl_->rk.get(), &raw) != RD_KAFKA_RESP_ERR_NO_ERROR) return 0;
  PartitionListPtr list(raw);
  if (rd_kafka_position(impl_->rk.get(), list.get()) != RD_KAFKA_RESP_ERR_NO_ERROR) return 0;
  int64_t behind = 0;
  for (int i = 0; i < list->cnt; ++i) {
    const rd_kafka_topic_partition_t& p = list->elems[i];
    int64_t low = 0, high = 0;
    if (p.offset < 0 ||
        rd_kafka_get_watermark_offsets(impl_->rk.get(), p.topic, p.partition, &low, &high) !=
            RD_KAFKA_RESP_ERR_NO_ERROR || high < 0) {
      continue;  // not fetched from yet
    }
    behind += std::max<int64_t>(0, high - p.offset);
  }
  return behind;
}

std::vector<TopicPartition> EventConsumer::Assignment() const {
  std::vector<TopicPartition> out;
  rd_kafka_topic_partition_list_t* raw = nullptr;
  if (rd_kafka_assignment(impl_->rk.get(), &raw) != RD_KAFKA_RESP_ERR_NO_ERROR) return out;
  PartitionListPtr list(raw);
  for (int i = 0; i < list->cnt; ++i)
    out.push_back({list->elems[i].topic, list->elems[i].partition});
  std::sort(out.begin(), out.end());
  return out;
}

uint64_t EventConsumer::generation() const { return impl_->generation; }

Status EventConsumer::Seek(const TopicPartition& tp, int64_t offset) {
  PartitionListPtr list(rd_kafka_topic_partition_list_new(1));
  rd_kafka_topic_partition_list_add(list.get(), tp.topic.c_str(), tp.partition)->offset = offset;
  return ErrorStatus(ErrorPtr(rd_kafka_seek_partitions(impl_->rk.get(), list.get(), kBrokerTimeoutMs)),
                     "seeking " + tp.ToString() + " to offset " + std::to_string(offset));
}

Status EventConsumer::Close() {
  if (impl_->closed) return Status::OK();
  impl_->closed = true;
  rd_kafka_resp_err_t err = rd_kafka_consumer_close(impl_->rk.get());
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) return KafkaStatus(err, "leaving the consumer group");
  return Status::OK();
}

}  // namespace ferry::transport
