// The whole pipeline as separate processes, for end-to-end tests: a source and a
// target cluster, `ferry dev-broker`, `ferry capture`, `ferry apply`.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "tests/support/pg_cluster.h"
#include "tests/support/process.h"
#include "transport/dev_broker.h"

namespace ferry::testing {

// A SQL expression of about 300 bytes per row `g` that LZ4 barely compresses
// (md5s), for tests whose rows must weigh on Kafka as much as on the source:
// a run of inserts travels compressed (--transaction-events batch).
inline constexpr const char* kIncompressible =
    "(SELECT string_agg(md5((g * 10 + i)::text), '') FROM generate_series(1, 9) i)";

class Pipeline {
 public:
  // Starts both clusters and the broker (not capture or apply). The broker is a
  // `ferry dev-broker` process, or, with in_process_broker, hosted in the test
  // process so that the test can inject faults (capture and apply still reach it
  // over TCP, as separate processes). logical_target: the target runs with
  // wal_level=logical too, for the reverse pipeline.
  static Result<std::unique_ptr<Pipeline>> Start(const std::string& name,
                                                 bool in_process_broker = false,
                                                 bool logical_target = false);
  ~Pipeline();

  PgCluster& source() { return *source_; }
  PgCluster& target() { return *target_; }
  const std::string& brokers() const { return brokers_; }
  // REQUIRES: started with in_process_broker.
  transport::DevBroker& broker() { return *in_process_broker_; }
  const std::string& dir() const { return dir_.path(); }

  // Runs DDL on both clusters (the target's tables exist before apply starts).
  void CreateOnBoth(const std::string& ddl);

  bool StartCapture(const std::vector<std::string>& extra = {});
  bool StartApply(const std::vector<std::string>& extra = {});
  // A second apply process in the same group, with its own state directory.
  bool StartSecondApply(const std::vector<std::string>& extra = {});
  ChildProcess& second_apply() { return apply2_; }
  // Waits until capture streams from its slot: changes committed before that are
  // not streamed (only the initial snapshot, by default, copies them). False on timeout.
  bool WaitCaptureStreaming(std::chrono::seconds timeout = std::chrono::seconds(30));
  ChildProcess& capture() { return capture_; }
  ChildProcess& apply() { return apply_; }

  // The reverse pipeline, target -> source, as `ferry cutover --prepare-rollback`
  // prints it: capture from the target's slot and publication ferry_reverse
  // (created when missing) with --snapshot never, topic prefix ferry_reverse;
  // apply to the source as group ferry-apply_reverse. Each has its own state
  // directory, kept across restarts. REQUIRES: started with logical_target.
  bool StartReverseCapture(const std::vector<std::string>& extra = {});
  bool StartReverseApply(const std::vector<std::string>& extra = {});
  // Waits until the reverse capture streams from its slot. False on timeout.
  bool WaitReverseCaptureStreaming(std::chrono::seconds timeout = std::chrono::seconds(30));
  ChildProcess& reverse_capture() { return reverse_capture_; }
  ChildProcess& reverse_apply() { return reverse_apply_; }
  // SIGTERM, then waits for a clean exit (SIGKILL after 30 s); its exit code.
  static int Stop(ChildProcess& p);

  // Rows of `table` on each side, as text, ordered by `order_by`.
  static std::vector<std::string> Rows(const PgCluster& c, const std::string& table,
                                       const std::string& order_by);
  // Waits until `table` has the same rows on both sides; false on timeout, or
  // once apply, or capture with an error, exited and they still differ.
  bool WaitConverged(const std::string& table, const std::string& order_by,
                     std::chrono::seconds timeout);
  // gtest-friendly: "" when equal, else the first difference.
  std::string Diff(const std::string& table, const std::string& order_by);

 private:
  Pipeline() : dir_("pipeline") {}
  TempDir dir_;
  std::unique_ptr<PgCluster> source_, target_;
  bool StartApplyProcess(ChildProcess& p, const std::string& name, const std::vector<std::string>& extra);
  static bool WaitSlotActive(const PgCluster& c, ChildProcess& capture, const std::string& slot,
                             std::chrono::seconds timeout);
  ChildProcess broker_, capture_, apply_, apply2_, reverse_capture_, reverse_apply_;
  std::unique_ptr<transport::DevBroker> in_process_broker_;
  std::string brokers_;
};

}  // namespace ferry::testing
