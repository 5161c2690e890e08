// RunCapture: the capture stage's main loop.
//
// source slot --pgoutput--> EventBuilder --ChangeEvents--> Kafka (idempotent)
//                                   AckTracker <--delivery reports--
// slot confirmed LSN <-- AckTracker.Confirmable(), stored in RocksDB first.
//
// The loop owns retry: a retriable failure (source or broker unreachable, slot
// briefly still held by a killed predecessor) restarts the session with
// jittered backoff, after waiting for in-flight events to be acknowledged.
// Non-retriable failures (bad config, wrong wal_level, malformed stream) return.
// SIGINT/SIGTERM stop it cleanly: events flushed, last LSN confirmed.
//
// Snapshots (README "Snapshots"): a new slot exports its snapshot and, with
// snapshot = initial or only, every publication table is copied in it
// (snapshot_copier.h) before the stream starts at the slot's consistent point;
// `only` exits after the copy. A copy cut short (crash, lost connection) is
// finished after the restart by the incremental method (snapshot_incremental.h),
// which also serves `ferry snapshot` requests while streaming.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "capture/snapshot_plan.h"
#include "capture/source_setup.h"
#include "common/status.h"
#include "transport/event_producer.h"
#include "transport/kafka_options.h"

namespace ferry::capture {

struct CaptureOptions {
  SourceOptions source;
  transport::KafkaOptions kafka;
  // Partitions and replication factor of the topics capture creates
  // (--topic-partitions, --topic-replication-factor): transport/event_producer.h.
  transport::EventProducerOptions producer;
  std::string topic_prefix = "ferry";
  std::string state_dir = "ferry-state";  // RocksDB lives in <state_dir>/capture
  // auto: on against the dev broker (which evicts old messages), off otherwise.
  std::string flow_control = "auto";
  // The consumer group flow control follows; empty: every group reading
  // capture's topics, or "ferry-apply" where Kafka cannot list groups
  // (capture/flow_control.h).
  std::string flow_control_group;
  int64_t flow_control_max_bytes = 2 << 20;
  // Go on although Kafka is another cluster than the one capture confirmed
  // events to (--new-kafka-cluster; capture/cluster_guard.h).
  bool accept_new_kafka_cluster = false;
  // Publish the transactions a ferry apply wrote into the source (marked with
  // one of ferry's replication origins) too: for chains A -> B -> C
  // (--replicate-origins). Default: dropped, so pipelines in opposite
  // directions never loop (capture/event_builder.h).
  bool replicate_origins = false;
  bool slot_metrics = false;  // query the slot's WAL retention for metrics (--metrics-addr)
  // initial: copy every table when the slot is new, then stream; only: copy, then
  // exit; never: stream only.
  std::string snapshot = "initial";
  int64_t snapshot_chunk_rows = 10000;  // rows per chunk (one key range query)
  std::string snapshot_events = "batch";  // batch: a chunk's rows in OP_READ_ROWS events; row: a READ per row
  // batch: a transaction's runs of kInsertBatchRows inserts into one table or
  // more travel in OP_INSERT_ROWS events; row: an INSERT event per row
  std::string transaction_events = "batch";
  // Connections reading (parts of) tables in parallel: the CPUs capture may
  // run on, at most 4 (snapshot_plan.h).
  int snapshot_workers = DefaultSnapshotWorkers();
  int64_t snapshot_buffer_bytes = int64_t{64} << 20;  // snapshot rows read ahead of Kafka
  // Silence (not even a keepalive) after which the replication connection is
  // taken for dead and capture reconnects. 0: max(2 x wal_sender_timeout, 60 s).
  std::chrono::milliseconds replication_timeout{0};
};

Status RunCapture(const CaptureOptions& options);

}  // namespace ferry::capture
