// ferry: PostgreSQL -> Kafka -> PostgreSQL change data capture, one binary.
#include <malloc.h>

#include <CLI/CLI.hpp>

#include "cli/commands.h"

int main(int argc, char** argv) {
  // No fastbins: ferry frees millions of small protobuf strings, and glibc
  // then consolidates every fastbin before each allocation of 1 kB or more
  // (malloc_consolidate was 17% of apply's CPU in a snapshot); the per-thread
  // tcache still serves small allocations. Apply's CPU: -10%.
  mallopt(M_MXFAST, 0);
  // Fixed thresholds: ferry's pipelines allocate and free buffers of a
  // megabyte or so per chunk (query results, COPY text, LZ4 blocks), on
  // several threads. With glibc's dynamic thresholds each thread's arena
  // gives the freed pages back (madvise) a few buffers later and faults them
  // in again, zeroed, for the next: page faults were ~40% of capture's and
  // apply's CPU in an initial copy. Freed memory stays for reuse instead, up
  // to what a pipeline held at its peak (bounded by its buffer flags);
  // capture returns it after its initial copy (malloc_trim).
  mallopt(M_MMAP_THRESHOLD, 32 << 20);  // glibc's maximum on 64-bit
  mallopt(M_TRIM_THRESHOLD, 256 << 20);
  CLI::App app{
      "ferry: continuous PostgreSQL replication through Kafka (capture -> Kafka -> apply)", "ferry"};
  app.require_subcommand(1);
  int exit_code = 0;
  ferry::cli::AddDevBrokerCommand(app, &exit_code);
  ferry::cli::AddCaptureCommand(app, &exit_code);
  ferry::cli::AddApplyCommand(app, &exit_code);
  ferry::cli::AddLagCommand(app, &exit_code);
  ferry::cli::AddValidateCommand(app, &exit_code);
  ferry::cli::AddCutoverCommand(app, &exit_code);
  ferry::cli::AddRollbackCommand(app, &exit_code);
  ferry::cli::AddFailuresCommand(app, &exit_code);
  ferry::cli::AddReconcileCommand(app, &exit_code);
  ferry::cli::AddSnapshotCommand(app, &exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  return exit_code;
}
