// TargetWriter: plans each event's statement (alone or in a run) from cached
// table metadata and streams it into the open transaction's libpq pipeline.
#include "apply/target_writer.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <deque>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <tuple>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "apply/copy_run.h"
#include "apply/parking.h"
#include "apply/pipeline.h"
#include "apply/replication_origin.h"
#include "apply/row_batches.h"
#include "apply/run_statements.h"
#include "apply/schema_changes.h"
#include "apply/statement_builder.h"
#include "apply/table_catalog.h"
#include "common/lsn.h"
#include "common/pg.h"
#include "transport/row_batch.h"

namespace ferry::apply {

namespace {

using ferry::v1::ChangeEvent;

// synchronous_commit=on: a committed transaction survives a target crash. The
// rest fix how the server reads and prints values, whatever the target's defaults.
constexpr const char* kSessionSettings =
    "SET synchronous_commit = on; SET DateStyle = ISO; SET IntervalStyle = postgres; "
    "SET extra_float_digits = 3";

// Past this many distinct statements the connection's prepared statements are
// dropped and prepared again as needed, so memory on both sides stays bounded.
constexpr size_t kMaxPrepared = 5000;

constexpr size_t kNoTag = std::numeric_limits<size_t>::max();

// COPY runs of a transaction, at most: each is a subtransaction, and past 64
// of them (PGPROC_MAX_CACHED_SUBXIDS) every reader's snapshot of the target
// overflows to pg_subtrans lookups while the transaction is open.
constexpr int kMaxCopiesPerTransaction = 48;
// After the target refused a table's COPY (its rows were there), its next
// runs go as statements: a re-copied table does not pay twice for every run.
constexpr int kRunsWithoutCopyAfterRefusal = 16;
// Row batches (OP_READ_ROWS, OP_INSERT_ROWS) that COPY cannot take wait, as other events
// do, until about this many bytes of them are held.
constexpr size_t kHeldBatchBytes = size_t{1} << 20;
// Bytes of row batches one COPY takes at most. A COPY the target refuses (a
// resumed copy resent rows it holds) is redone by statements, so a table's
// first COPY is small, and so is the first of each capture session (a resumed
// copy is one); each one the target took whole doubles the next, up to
// kMaxCopyBytes, and a refusal starts over. Fewer COPYs cost the target less:
// 1M rows of 100 B in 25 COPYs took it 10% more CPU than in one (each COPY's
// bulk-insert ring takes shared buffers anew).
constexpr size_t kFirstCopyBytes = size_t{4} << 20;
constexpr size_t kMaxCopyBytes = size_t{64} << 20;
// Rows handed to an open COPY's sender and not sent yet, at most.
constexpr size_t kMaxQueuedCopyBytes = size_t{2} << 20;
// A large transaction's inserts go to an open COPY in pieces of about this size.
constexpr size_t kInsertPieceBytes = size_t{256} << 10;

// Server notices (e.g. "truncate cascades to table ...") go to the log, not stderr.
void LogNotice(void*, const char* message) {
  std::string m = message ? message : "";
  while (!m.empty() && m.back() == '\n') m.pop_back();
  spdlog::debug("target: {}", m);
}

std::string Clip(const std::string& value) {
  constexpr size_t kMax = 120;
  if (value.size() <= kMax) return value;
  return value.substr(0, kMax) + "...(" + std::to_string(value.size()) + " bytes)";
}

// `id=1 v='a' big=<unchanged toast>` for conflict logs.
std::string RowText(const google::protobuf::RepeatedPtrField<ferry::v1::Column>& columns) {
  std::string out;
  for (const auto& c : columns) {
    out += (out.empty() ? "" : " ") + c.name() + "=";
    switch (c.kind()) {
      case ferry::v1::Column::KIND_NULL: out += "NULL"; break;
      case ferry::v1::Column::KIND_UNCHANGED_TOAST: out += "<unchanged toast>"; break;
      default: out += QuoteLiteral(Clip(c.value()));
    }
  }
  return out;
}

bool SameTruncate(const ChangeEvent& a, const ChangeEvent& b) {
  return b.op() == ferry::v1::OP_TRUNCATE && a.commit_lsn() == b.commit_lsn() && a.lsn() == b.lsn() &&
         a.truncate().cascade() == b.truncate().cascade() &&
         a.truncate().restart_identity() == b.truncate().restart_identity() &&
         a.truncate().recopy() == b.truncate().recopy();
}

// An event waiting in TargetWriter::Impl::held, with the tag of its Hold call.
struct Held {
  const ChangeEvent* event;
  size_t tag;
};

// What a sent command was, to read its result and name it in an error.
struct Command {
  size_t tag = kNoTag;
  ResultCheck check = ResultCheck::kNone;
  ConflictKind conflict = ConflictKind::kInsertExists;
  Resolution resolution = Resolution::kSkipped;
  uint32_t events = 1;
  std::string table;        // quoted, for conflict counts
  std::string description;  // "applying ..." for errors
  std::string conflict_log;  // with log_conflicts: the event and its values
};

std::string Describe(std::span<const ChangeEvent* const> run) {
  if (run.size() == 1) return DescribeEvent(*run[0]);
  const ChangeEvent& first = *run.front();
  return std::string(OperationName(first.op())) + " of " + std::to_string(run.size()) + " rows on " +
         QualifiedName(first.schema(), first.table()) + " at commit LSN " + Lsn(first.commit_lsn()).ToString() +
         " (events " + std::to_string(first.index_in_tx()) + ".. of its transaction)";
}

}  // namespace

struct TargetWriter::Impl {
  PgConn conn;
  TableCatalog catalog{&conn};
  TargetWriterOptions options;
  ConflictStats own_stats;
  ConflictStats* stats = &own_stats;
  std::unordered_map<std::string, std::string> prepared;  // SQL text + types -> statement name
  uint64_t next_statement_id = 0;
  bool broken = false;  // the connection was lost: every call fails until reconnect
  bool origin_held = false;  // this session holds options.replication_origin

  // The open transaction.
  bool in_tx = false;
  bool moved = false;
  bool has_position = false;
  TopicPartition tp;
  std::unique_ptr<Pipeline> pipeline;
  std::deque<Command> commands;  // of the current pipeline, from number `first_command`
  size_t first_command = 0;
  std::vector<std::pair<size_t, std::string>> new_prepares;  // command, cache key (current pipeline)
  // Events of Hold calls not sent yet, so that runs span source transactions.
  std::vector<Held> held;
  size_t held_rows = 0;           // held events other than row batches
  size_t held_batch_bytes = 0;    // rows of held row batches
  std::optional<Status> error;  // the transaction's first failure
  std::optional<size_t> failed_tag;
  std::map<std::tuple<std::string, ConflictKind, Resolution>, int64_t> pending_conflicts;
  std::vector<std::string> pending_log;
  uint64_t catalog_epoch = 0;  // bumped whenever cached TableInfo pointers may have changed
  int copies = 0;  // COPY runs of the open transaction
  std::unordered_map<std::string, int> runs_without_copy;  // table -> runs left
  struct CopySize {
    size_t bytes = 0;       // what the table's next COPY of row batches takes
    uint64_t session = 0;   // of the capture session whose rows it took whole
  };
  std::unordered_map<std::string, CopySize> copy_sizes;  // by table
  // A COPY left open while apply reads on: of row batches (StreamBatch), or
  // of a large transaction's inserts (StreamInserts).
  struct OpenCopy {
    std::unique_ptr<CopyIn> in;
    std::vector<Held> batches;  // what it carries, for statements if refused (row batches)
    std::string table;          // quoted
    size_t bytes = 0;
    // Inserts: the run's first event (the shape the rest must have), the
    // columns written, and how many rows went in.
    std::optional<ChangeEvent> insert_shape;
    Names columns;
    int64_t rows = 0;
  };
  std::optional<OpenCopy> open_copy;
  std::string batch_text;  // a compressed row batch's rows, decompressed
  // The transaction is replayed whole if refused (a streamed unit), so runs of
  // inserts may go into an open COPY without a savepoint (StreamInserts).
  bool open_insert_copy = false;
  bool copy_refused = false;  // such a COPY was refused: the transaction failed

  Status Lost(const Status& st) {
    if (st.IsRetriable()) broken = true;
    return st;
  }
  Status OpenPipeline();
  Status SyncPipeline();
  void NoteFailure(const PipelineFailure& f);
  void OnRows(size_t command, const PGresult* rows);
  void Trim();
  Status Send(const Statement& st, Command info);
  Status SendPlain(const char* sql, size_t tag, std::string description);
  Result<const TableInfo*> Table(const ChangeEvent& e);
  Result<const TableInfo*> TableFor(const ChangeEvent& e);
  Status SendSingle(const ChangeEvent& e, size_t tag, bool precise);
  Status SendTruncate(std::span<const Held> events, size_t tag);
  Status SendRun(std::span<const ChangeEvent* const> run, const TableInfo& table, size_t tag);
  bool WantCopy(std::span<const ChangeEvent* const> run, const TableInfo& table);
  size_t CopyBytes(const std::string& table, uint64_t session) const;
  Result<bool> CopyRun(std::span<const ChangeEvent* const> run, const TableInfo& table, size_t tag);
  Status EnterCopySavepoint(size_t tag, const std::string& what);
  Result<bool> LeaveCopySavepoint(Result<std::optional<PipelineFailure>> refused, size_t tag,
                                  const std::string& what);
  Status SendRowBatches(std::span<const Held> batches, bool precise, size_t& tag);
  Result<bool> StreamBatch(const ChangeEvent& e, size_t tag);
  Result<size_t> StreamInserts(std::span<const ChangeEvent> events, size_t at, size_t tag, size_t& run_end);
  Result<bool> StreamUnitBatch(const ChangeEvent& e, size_t tag);
  Result<std::unique_ptr<CopyIn>> StartUnitCopy(const TableInfo& table, const Names& columns);
  Status QueueInserts(std::span<const ChangeEvent> events);
  Status EndCopy(size_t& tag);
  Status SendEvents(std::span<const Held> events, bool precise, size_t& tag);
  Status SendPlanned(std::span<const ChangeEvent* const> run, const TableInfo& table, size_t tag);
  size_t PlanRun(std::span<const Held> events, size_t at, const TableInfo& table, const std::string& key,
                 std::vector<const ChangeEvent*>* run);
  Status SendHeld(bool precise);
  Status Hold(std::span<const ChangeEvent> events, size_t tag, bool precise);
  Status Failed(const Status& st, size_t tag);
  Status Begin(bool with_position, const TopicPartition& where, const ApplyPosition& expected);
  Status TakeOrigin();
  Status SendOriginPosition(const ApplyPosition& position);
  Status ReleaseOrigin();
  Status Commit(const ApplyPosition* position);
  Result<ApplyPosition> LoadPosition(const TopicPartition& where);
  void Abort();
  void Reset();
};

Status TargetWriter::Impl::OpenPipeline() {
  if (pipeline) return Status::OK();
  if (open_copy) {  // the COPY ends before anything else is sent
    size_t tag = kNoTag;
    FERRY_RETURN_IF_ERROR(EndCopy(tag));
  }
  pipeline = std::make_unique<Pipeline>(conn.get());
  Status entered = pipeline->Enter();
  if (!entered.ok()) {
    pipeline.reset();
    return Lost(entered);
  }
  commands.clear();
  first_command = 0;
  new_prepares.clear();
  pipeline->OnRows([this](size_t command, const PGresult* rows) { OnRows(command, rows); });
  return Status::OK();
}

// Ends the pipeline (Sync, every result read), so that plain queries can run
// inside the transaction.
Status TargetWriter::Impl::SyncPipeline() {
  if (!pipeline) return Status::OK();
  Result<std::optional<PipelineFailure>> finished = pipeline->Finish();
  if (!finished.ok()) {
    pipeline.reset();
    return Lost(finished.status());
  }
  if (*finished) NoteFailure(**finished);
  pipeline.reset();
  return Status::OK();
}

void TargetWriter::Impl::NoteFailure(const PipelineFailure& f) {
  if (error) return;
  // Prepares at or after the failure never ran.
  for (const auto& [command, key] : new_prepares) {
    if (command >= f.command) prepared.erase(key);
  }
  std::string context = "a target transaction";
  if (f.command >= first_command && f.command - first_command < commands.size()) {
    const Command& c = commands[f.command - first_command];
    if (c.tag != kNoTag) failed_tag = c.tag;
    if (!c.description.empty()) context = c.description;
  }
  error = PgErrorStatus(f.sqlstate, f.connection_lost, context + ": " + f.message);
  if (f.connection_lost) broken = true;
  // A failed statement may come from DDL on the target: read the catalog afresh.
  catalog.Clear();
  ++catalog_epoch;
}

void TargetWriter::Impl::OnRows(size_t command, const PGresult* rows) {
  if (command < first_command || command - first_command >= commands.size()) return;
  const Command& c = commands[command - first_command];
  int64_t n = ConflictsIn(c.check, c.events, rows);
  if (n == 0) return;
  pending_conflicts[{c.table, c.conflict, c.resolution}] += n;
  if (!c.conflict_log.empty()) {
    pending_log.push_back("conflict " + std::string(ConflictKindName(c.conflict)) + " (" +
                          std::string(ResolutionName(c.resolution)) + "): " + c.conflict_log);
  }
}

// Forgets commands whose results were all read: memory stays bounded by what
// is in flight, whatever the transaction's size.
void TargetWriter::Impl::Trim() {
  if (!pipeline) return;
  while (!commands.empty() && first_command < pipeline->completed()) {
    commands.pop_front();
    ++first_command;
  }
}

// Sends a statement without parameters or rows back, unprepared.
Status TargetWriter::Impl::SendPlain(const char* sql, size_t tag, std::string description) {
  FERRY_RETURN_IF_ERROR(OpenPipeline());
  Command info;
  info.tag = tag;
  info.description = std::move(description);
  commands.push_back(std::move(info));
  return Lost(pipeline->SendQuery(sql));
}

// Sends one statement, prepared the first time its text is seen on this connection.
Status TargetWriter::Impl::Send(const Statement& st, Command info) {
  FERRY_RETURN_IF_ERROR(OpenPipeline());
  std::string key = st.sql;
  for (uint32_t t : st.param_types) (key += '\x1f') += std::to_string(t);  // same text, other types
  auto [it, is_new] = prepared.try_emplace(std::move(key));
  size_t number = first_command + commands.size();
  if (is_new) {
    it->second = "ferry_apply_";
    it->second += std::to_string(next_statement_id++);
    new_prepares.emplace_back(number, it->first);
    Command prepare;
    prepare.tag = info.tag;
    prepare.description = info.description;
    commands.push_back(std::move(prepare));
    FERRY_RETURN_IF_ERROR(Lost(pipeline->SendPrepare(it->second, st.sql, st.param_types)));
  }
  info.check = st.check;
  info.conflict = st.conflict;
  info.resolution = st.resolution;
  info.events = st.events;
  commands.push_back(std::move(info));
  return Lost(pipeline->SendQueryPrepared(it->second, st.params, st.param_lengths, st.param_formats));
}

// The event's table, created or extended first when the options allow it.
// REQUIRES: no pipeline open (it may query and change the catalog).
Result<const TableInfo*> TargetWriter::Impl::TableFor(const ChangeEvent& e) {
  ++catalog_epoch;
  FERRY_ASSIGN_OR_RETURN(const TableInfo* table, catalog.Find(e.schema(), e.table()));
  if (table == nullptr) {
    if (!options.create_tables || e.op() == ferry::v1::OP_TRUNCATE) {
      return catalog.Get(e.schema(), e.table());  // the "does not exist" error
    }
    FERRY_RETURN_IF_ERROR(CreateTargetTable(conn, e));
    FERRY_ASSIGN_OR_RETURN(table, catalog.Get(e.schema(), e.table()));
  }
  if (!options.evolve_schema) return table;
  auto missing = MissingColumns(e, *table);
  if (missing.empty()) return table;
  // The cache may predate a column added on the target: look again first.
  FERRY_ASSIGN_OR_RETURN(table, catalog.Refresh(e.schema(), e.table()));
  missing = MissingColumns(e, *table);
  if (missing.empty()) return table;
  FERRY_RETURN_IF_ERROR(AddTargetColumns(conn, *table, missing));
  return catalog.Refresh(e.schema(), e.table());
}

// The cached table when it fits the event; else the pipeline is synced and the
// catalog read (and changed, with create_tables/evolve_schema) in the transaction.
Result<const TableInfo*> TargetWriter::Impl::Table(const ChangeEvent& e) {
  const TableInfo* cached = catalog.Cached(e.schema(), e.table());
  if (cached != nullptr && (!options.evolve_schema || MissingColumns(e, *cached).empty())) return cached;
  FERRY_RETURN_IF_ERROR(SyncPipeline());
  if (error) return *error;
  Result<const TableInfo*> table = TableFor(e);
  if (!table.ok()) return Lost(table.status().WithContext("applying " + DescribeEvent(e)));
  return table;
}

Status TargetWriter::Impl::SendSingle(const ChangeEvent& e, size_t tag, bool precise) {
  FERRY_ASSIGN_OR_RETURN(const TableInfo* table, Table(e));
  Result<Statement> st = BuildStatement(e, *table, options.rule);
  if (!st.ok() && st.status().code() == Status::Code::kInvalidArgument) {
    // The target's DDL may have changed since the table was cached: look once more.
    FERRY_RETURN_IF_ERROR(SyncPipeline());
    if (error) return *error;
    ++catalog_epoch;
    Result<const TableInfo*> fresh = catalog.Refresh(e.schema(), e.table());
    if (!fresh.ok()) return Lost(fresh.status().WithContext("applying " + DescribeEvent(e)));
    st = BuildStatement(e, **fresh, options.rule);
  }
  if (!st.ok()) return st.status().WithContext("applying " + DescribeEvent(e));
  Command info;
  info.tag = tag;
  info.table = table->QualifiedName();
  info.description = "applying " + (precise ? DescribeWithKey(e) : DescribeEvent(e));
  if (options.log_conflicts && st->check != ResultCheck::kNone) {
    info.conflict_log = DescribeEvent(e) + ": " + RowText(e.op() == ferry::v1::OP_DELETE ? e.old_columns() : e.columns());
  }
  return Send(*st, std::move(info));
}

// The tables one source TRUNCATE named arrive as consecutive events: they are
// truncated together, so that foreign keys among them do not refuse it.
Status TargetWriter::Impl::SendTruncate(std::span<const Held> events, size_t tag) {
  std::vector<std::pair<std::string, std::string>> names;
  for (const auto& h : events) names.emplace_back(h.event->schema(), h.event->table());
  std::vector<const TableInfo*> tables;
  for (const auto& h : events) FERRY_RETURN_IF_ERROR(Table(*h.event).status());  // may sync and refresh
  for (const auto& [schema, name] : names) {
    const TableInfo* t = catalog.Cached(schema, name);
    if (t == nullptr) return Status::Internal("table " + QualifiedName(schema, name) + " left the catalog cache");
    if (std::find(tables.begin(), tables.end(), t) == tables.end()) tables.push_back(t);
  }
  Command info;
  info.tag = tag;
  info.description = "applying " + DescribeEvent(*events.front().event);
  const ferry::v1::TruncateOptions& how = events.front().event->truncate();
  // A re-copy's clear: DELETE, which replica mode runs without the foreign-key
  // checks TRUNCATE makes anyway; with the target's triggers on, TRUNCATE
  // (a DELETE would cascade to, or be refused by, the referencing rows).
  if (how.recopy() && !options.target_triggers) {
    for (const TableInfo* t : tables) FERRY_RETURN_IF_ERROR(Send(BuildCopyClear(*t), info));
    return Status::OK();
  }
  return Send(BuildTruncate(tables, how), std::move(info));
}

// Gathers, from `at`, the events that join the run of `key` (same table, same
// statement shape, no row twice); returns the index after the last one.
size_t TargetWriter::Impl::PlanRun(std::span<const Held> events, size_t at, const TableInfo& table,
                                   const std::string& key, std::vector<const ChangeEvent*>* run) {
  std::unordered_set<std::string> rows;
  // Inserts may form a longer run, for COPY (SendPlanned splits it otherwise).
  const size_t most =
      key[0] == 'I' ? std::max(options.max_run_events, options.max_copy_rows) : options.max_run_events;
  const ChangeEvent* keyed = nullptr;  // the last event whose RunKey was `key`
  size_t j = at;
  for (; j < events.size() && run->size() < most; ++j) {
    const ChangeEvent& e = *events[j].event;
    if (e.schema() != table.schema || e.table() != table.table) break;
    if (options.evolve_schema && !MissingColumns(e, table).empty()) break;
    if (keyed == nullptr || !SameRunShape(*keyed, e)) {
      if (RunKey(e, table) != key) break;
      keyed = &e;
    }
    std::string row = RunRow(e, table);
    if (!row.empty() && !rows.insert(std::move(row)).second) break;
    run->push_back(&e);
  }
  return j;
}

Status TargetWriter::Impl::SendRun(std::span<const ChangeEvent* const> run, const TableInfo& table, size_t tag) {
  Result<Statement> st = BuildRunStatement(run, table, options.rule);
  if (!st.ok()) return st.status().WithContext("applying " + Describe(run));
  Command info;
  info.tag = tag;
  info.table = table.QualifiedName();
  info.description = "applying " + Describe(run);
  return Send(*st, std::move(info));
}

bool TargetWriter::Impl::WantCopy(std::span<const ChangeEvent* const> run, const TableInfo& table) {
  if (options.min_copy_rows == 0 || run.size() < options.min_copy_rows || copies >= kMaxCopiesPerTransaction ||
      !CopyFits(run, table)) {
    return false;
  }
  auto skip = runs_without_copy.find(table.QualifiedName());
  if (skip == runs_without_copy.end()) return true;
  if (--skip->second <= 0) runs_without_copy.erase(skip);
  return false;
}

// A COPY runs inside a savepoint, so that the target's refusal undoes it
// alone: opened here, with the pipeline synced (COPY cannot run in it).
Status TargetWriter::Impl::EnterCopySavepoint(size_t tag, const std::string& what) {
  FERRY_RETURN_IF_ERROR(SendPlain("SAVEPOINT ferry_copy", tag, what));
  FERRY_RETURN_IF_ERROR(SyncPipeline());
  if (error) return *error;
  ++copies;
  return Status::OK();
}

// Closes the COPY's savepoint after its outcome `refused`: true when every
// row went in; false when the target refused them, rolled back to the
// savepoint, as if the COPY never ran.
Result<bool> TargetWriter::Impl::LeaveCopySavepoint(Result<std::optional<PipelineFailure>> refused, size_t tag,
                                                    const std::string& what) {
  if (!refused.ok()) return Lost(refused.status().WithContext(what));
  if (!*refused) {
    FERRY_RETURN_IF_ERROR(SendPlain("RELEASE SAVEPOINT ferry_copy", tag, what));
    return true;
  }
  spdlog::debug("{}: COPY refused by the target ({}), statements go instead", what, (*refused)->message);
  FERRY_RETURN_IF_ERROR(Lost(conn.Exec("ROLLBACK TO SAVEPOINT ferry_copy; RELEASE SAVEPOINT ferry_copy").status()));
  return false;
}

// Writes a run of inserts with COPY inside a savepoint (apply/copy_run.h).
// False when the target refused it: the run's statement goes instead.
Result<bool> TargetWriter::Impl::CopyRun(std::span<const ChangeEvent* const> run, const TableInfo& table,
                                         size_t tag) {
  const std::string what = "applying " + Describe(run);
  FERRY_RETURN_IF_ERROR(EnterCopySavepoint(tag, what));
  Result<std::optional<PipelineFailure>> refused = CopyRows(conn.get(), run, table, WrittenColumns(*run[0], table));
  FERRY_ASSIGN_OR_RETURN(bool copied, LeaveCopySavepoint(std::move(refused), tag, what));
  if (!copied) runs_without_copy[table.QualifiedName()] = kRunsWithoutCopyAfterRefusal;
  return copied;
}

// How many bytes of row batches of capture session `session` a COPY into
// `table` takes (kMaxCopyBytes).
size_t TargetWriter::Impl::CopyBytes(const std::string& table, uint64_t session) const {
  auto it = copy_sizes.find(table);
  return it == copy_sizes.end() || it->second.session != session ? kFirstCopyBytes : it->second.bytes;
}

// A row batch joins the open COPY of its table, or opens one (in a
// savepoint, as CopyRun): libpq sends its rows while apply reads the next
// ones, so the target parses rows all along. False when COPY cannot take it:
// it is held, and its rows go as statements.
Result<bool> TargetWriter::Impl::StreamBatch(const ChangeEvent& e, size_t tag) {
  // Joins the open COPY only if nothing came in between (held since it
  // opened): a truncate or change between two batches goes between them.
  if (open_copy && !open_copy->batches.empty() && held.empty() &&
      open_copy->bytes < CopyBytes(open_copy->table, e.capture_session()) &&
      SameRowBatchShape(*open_copy->batches.front().event, e)) {
    open_copy->batches.push_back({&e, tag});
    open_copy->bytes += RowBatchBytes(e);
    FERRY_ASSIGN_OR_RETURN(std::string_view text, RowBatchText(e, batch_text));
    FERRY_RETURN_IF_ERROR(Lost(open_copy->in->Queue(text)));
    return true;
  }
  FERRY_RETURN_IF_ERROR(SendHeld(false));  // what came before goes first; ends the open COPY
  if (options.min_copy_rows == 0 || copies >= kMaxCopiesPerTransaction) return false;
  FERRY_ASSIGN_OR_RETURN(std::string_view text, RowBatchText(e, batch_text));
  FERRY_ASSIGN_OR_RETURN(const TableInfo* table, Table(e));
  const Names columns = RowBatchCopyColumns(e, *table);
  if (table->has_rules || columns.empty()) return false;
  const std::string what = "applying " + DescribeEvent(e) + " and the batches after it";
  FERRY_RETURN_IF_ERROR(EnterCopySavepoint(tag, what));
  auto in = std::make_unique<CopyIn>(conn.get());
  Result<std::optional<PipelineFailure>> started = in->Start(CopyStatement(*table, columns));
  if (!started.ok() || *started) {
    in.reset();
    return LeaveCopySavepoint(std::move(started), tag, what);  // false: not taken
  }
  in->StartSender(kMaxQueuedCopyBytes);
  open_copy = OpenCopy{std::move(in), {{&e, tag}}, table->QualifiedName(), RowBatchBytes(e), std::nullopt, {}, 0};
  FERRY_RETURN_IF_ERROR(Lost(open_copy->in->Queue(text)));
  return true;
}

// A large transaction's inserts (open_insert_copy): a run of like inserts of
// one table goes into one COPY left open across Add calls, as row batches do,
// so the target parses them while apply reads the next ones, and no savepoint
// is taken (a transaction holds at most kMaxCopiesPerTransaction of those).
// Nothing is kept to redo a refused COPY by statements: the whole transaction
// fails with copy_refused set, and its caller applies it again without COPY.
// Returns how many of `events`, from `at`, went in: the events joining the
// open COPY, or a new run of at least min_copy_rows that COPY can take. 0:
// none, they go the ordinary way, up to `run_end`.
Result<size_t> TargetWriter::Impl::StreamInserts(std::span<const ChangeEvent> events, size_t at, size_t tag,
                                                 size_t& run_end) {
  const ChangeEvent& e = events[at];
  constexpr auto kInsert = ferry::v1::OP_INSERT;
  const bool joins = open_copy && open_copy->insert_shape && open_copy->insert_shape->op() == kInsert &&
                     held.empty() && SameCopyShape(*open_copy->insert_shape, e, kInsert);
  run_end = at + 1;
  const ChangeEvent& shape = joins ? *open_copy->insert_shape : e;
  while (run_end < events.size() && SameCopyShape(shape, events[run_end], kInsert)) ++run_end;
  const size_t run = run_end - at;
  if (joins) {
    FERRY_RETURN_IF_ERROR(QueueInserts(events.subspan(at, run)));
    return run;
  }
  if (e.op() != ferry::v1::OP_INSERT || run < options.min_copy_rows || options.min_copy_rows == 0) return 0;
  // The open COPY's rows came first, then what is held; the table's
  // definition may need the connection.
  FERRY_RETURN_IF_ERROR(EndCopy(tag));
  FERRY_ASSIGN_OR_RETURN(const TableInfo* table, Table(e));
  const ChangeEvent* first = &e;
  if (!CopyFits(std::span(&first, 1), *table)) return 0;
  FERRY_RETURN_IF_ERROR(SendHeld(false));
  Names columns = WrittenColumns(e, *table);
  FERRY_ASSIGN_OR_RETURN(std::unique_ptr<CopyIn> in, StartUnitCopy(*table, columns));
  open_copy = OpenCopy{std::move(in), {}, table->QualifiedName(), 0, e, std::move(columns), 0};
  FERRY_RETURN_IF_ERROR(QueueInserts(events.subspan(at, run)));
  return run;
}

// A COPY of a large transaction's rows, without a savepoint (StreamInserts):
// the target's refusal fails the transaction, copy_refused set.
// REQUIRES: nothing held.
Result<std::unique_ptr<CopyIn>> TargetWriter::Impl::StartUnitCopy(const TableInfo& table, const Names& columns) {
  FERRY_RETURN_IF_ERROR(SyncPipeline());  // COPY cannot run in pipeline mode
  if (error) return *error;
  auto in = std::make_unique<CopyIn>(conn.get());
  Result<std::optional<PipelineFailure>> started = in->Start(CopyStatement(table, columns));
  if (!started.ok()) return Lost(started.status());
  if (*started) {
    copy_refused = true;
    return Status::Aborted("the target refused COPY into " + table.QualifiedName() + ": " + (*started)->message);
  }
  in->StartSender(kMaxQueuedCopyBytes);
  return in;
}

// A large transaction's row batch (open_insert_copy) joins the open COPY of
// like batches, or opens one, without a savepoint, as StreamInserts does for
// single inserts: its rows go to the target as they are. False when COPY
// cannot take the table's rows as they are: the batch goes the ordinary way.
Result<bool> TargetWriter::Impl::StreamUnitBatch(const ChangeEvent& e, size_t tag) {
  const bool joins =
      open_copy && open_copy->insert_shape && held.empty() && SameRowBatchShape(*open_copy->insert_shape, e);
  if (!joins) {
    FERRY_RETURN_IF_ERROR(EndCopy(tag));  // its rows came first
    FERRY_ASSIGN_OR_RETURN(const TableInfo* table, Table(e));
    Names columns = RowBatchCopyColumns(e, *table);
    if (table->has_rules || columns.empty()) return false;
    FERRY_RETURN_IF_ERROR(SendHeld(false));
    FERRY_ASSIGN_OR_RETURN(std::unique_ptr<CopyIn> in, StartUnitCopy(*table, columns));
    ChangeEvent shape = e;
    shape.clear_copy_rows();
    open_copy = OpenCopy{std::move(in), {}, table->QualifiedName(), 0, std::move(shape), std::move(columns), 0};
  }
  FERRY_ASSIGN_OR_RETURN(std::string_view text, RowBatchText(e, batch_text));
  open_copy->rows += e.row_count();
  open_copy->bytes += text.size();
  FERRY_RETURN_IF_ERROR(Lost(open_copy->in->Queue(text)));
  return true;
}

// Hands the rows of `events` (inserts of the open COPY's shape) to its sender.
Status TargetWriter::Impl::QueueInserts(std::span<const ChangeEvent> events) {
  for (size_t i = 0; i < events.size();) {
    batch_text.clear();
    for (; i < events.size() && batch_text.size() < kInsertPieceBytes; ++i) {
      AppendCopyRow(batch_text, events[i], open_copy->columns);
      ++open_copy->rows;
    }
    open_copy->bytes += batch_text.size();
    FERRY_RETURN_IF_ERROR(Lost(open_copy->in->Queue(batch_text)));
  }
  return Status::OK();
}

// Ends the open COPY and waits for the target's answer. Refused: rolled back
// to its savepoint, and its batches' rows go as statements instead (a COPY of
// inserts has no savepoint: the transaction fails, copy_refused set).
Status TargetWriter::Impl::EndCopy(size_t& tag) {
  if (!open_copy) return Status::OK();
  OpenCopy copy = std::move(*open_copy);
  open_copy.reset();
  Result<std::optional<PipelineFailure>> refused = copy.in->Finish();
  copy.in.reset();
  if (copy.insert_shape) {
    if (!refused.ok()) return Lost(refused.status());
    if (!*refused) return Status::OK();
    copy_refused = true;
    return Status::Aborted("the target refused the COPY of " + std::to_string(copy.rows) + " rows into " +
                           copy.table + " from " + DescribeEvent(*copy.insert_shape) + " on: " +
                           (*refused)->message);
  }
  tag = copy.batches.front().tag;
  const std::string what = "applying " + DescribeEvent(*copy.batches.front().event) + " and " +
                           std::to_string(copy.batches.size() - 1) + " batches after it";
  FERRY_ASSIGN_OR_RETURN(bool copied, LeaveCopySavepoint(std::move(refused), tag, what));
  if (copied) {
    const uint64_t session = copy.batches.back().event->capture_session();
    const size_t next = std::min(2 * CopyBytes(copy.table, session), kMaxCopyBytes);
    copy_sizes[copy.table] = {next, session};
    return Status::OK();
  }
  copy_sizes.erase(copy.table);
  runs_without_copy[copy.table] = kRunsWithoutCopyAfterRefusal;  // its rows would be refused again
  return SendRowBatches(copy.batches, /*precise=*/false, tag);
}

// Row batches that go as statements: their rows one OP_READ event each, as
// the ordinary path applies them (in runs, or one by one when `precise`).
Status TargetWriter::Impl::SendRowBatches(std::span<const Held> batches, bool precise, size_t& tag) {
  std::deque<ChangeEvent> rows;
  std::vector<Held> expanded;
  for (const Held& b : batches) {
    const size_t from = rows.size();
    FERRY_RETURN_IF_ERROR(ExpandRowBatch(*b.event, rows));
    for (size_t i = from; i < rows.size(); ++i) expanded.push_back({&rows[i], b.tag});
  }
  return SendEvents(expanded, precise, tag);  // sent before `rows` goes
}

// A planned run: by COPY where it pays, else statements of at most
// max_run_events rows.
Status TargetWriter::Impl::SendPlanned(std::span<const ChangeEvent* const> run, const TableInfo& table, size_t tag) {
  if (WantCopy(run, table)) {
    FERRY_ASSIGN_OR_RETURN(bool copied, CopyRun(run, table, tag));
    if (copied) return Status::OK();
  }
  for (size_t at = 0; at < run.size(); at += options.max_run_events) {
    auto part = run.subspan(at, std::min(options.max_run_events, run.size() - at));
    FERRY_RETURN_IF_ERROR(part.size() == 1 ? SendSingle(*part[0], tag, false) : SendRun(part, table, tag));
  }
  return Status::OK();
}

// Sends the held events: runs of one table's like changes as one statement
// each (a run may join events of several Hold calls: it carries the tag of its
// first event, so the calls before it are known to have applied), the rest one
// statement per event. `precise`: one statement per event, whatever it is.
Status TargetWriter::Impl::SendHeld(bool precise) {
  std::vector<Held> events = std::move(held);
  held.clear();
  held_rows = held_batch_bytes = 0;
  size_t tag = kNoTag;
  // A COPY of inserts stays open for the next call's inserts while nothing
  // else came; anything else goes after it.
  const bool keep_copy = open_copy && open_copy->insert_shape && events.empty() && !precise;
  Status st = keep_copy ? Status::OK() : EndCopy(tag);
  if (st.ok()) st = SendEvents(events, precise, tag);
  if (!st.ok()) {
    if (!error) {
      error = st;
      if (!st.IsRetriable()) failed_tag = tag;  // a plan error: the event did not fit
    }
    return *error;
  }
  // The failure first: Trim forgets commands whose results were read, the
  // failed one among them (libpq reads results while a long send waits).
  if (pipeline && pipeline->failure()) NoteFailure(*pipeline->failure());
  Trim();
  return error ? *error : Status::OK();
}

// SendHeld's work; `tag` names the event being sent when it fails.
Status TargetWriter::Impl::SendEvents(std::span<const Held> events, bool precise, size_t& tag) {
  for (size_t i = 0; i < events.size();) {
    const ChangeEvent& e = *events[i].event;
    tag = events[i].tag;
    if (e.op() == ferry::v1::OP_TRUNCATE) {
      size_t j = i + 1;
      while (j < events.size() && SameTruncate(e, *events[j].event)) ++j;
      if (options.skip_truncate && !e.truncate().recopy()) {
        spdlog::info("skipped {} (--truncate skip)", DescribeEvent(e));
      } else {
        FERRY_RETURN_IF_ERROR(SendTruncate(events.subspan(i, j - i), tag));
      }
      i = j;
      continue;
    }
    if (transport::IsRowBatch(e.op())) {
      size_t j = i + 1;
      while (j < events.size() && SameRowBatchShape(e, *events[j].event)) ++j;
      FERRY_RETURN_IF_ERROR(SendRowBatches(events.subspan(i, j - i), precise, tag));
      i = j;
      continue;
    }
    FERRY_ASSIGN_OR_RETURN(const TableInfo* table, Table(e));
    std::string key = options.log_conflicts || precise ? "" : RunKey(e, *table);
    if (key.empty()) {
      FERRY_RETURN_IF_ERROR(SendSingle(e, tag, precise));
      ++i;
      continue;
    }
    std::vector<const ChangeEvent*> run;
    size_t next = PlanRun(events, i, *table, key, &run);
    FERRY_RETURN_IF_ERROR(SendPlanned(run, *table, tag));
    i = next;
  }
  return Status::OK();
}

// Records the transaction's first failure, `st` while sending the events of
// Hold call `tag` (the one to blame unless the connection failed); returns it.
Status TargetWriter::Impl::Failed(const Status& st, size_t tag) {
  if (!error) error = st;
  if (!failed_tag && !st.IsRetriable()) failed_tag = tag;
  return *error;
}

// Events wait in `held` until a full run could form (or Commit), so that
// consecutive small source transactions share multi-row statements.
Status TargetWriter::Impl::Hold(std::span<const ChangeEvent> events, size_t tag, bool precise) {
  if (!in_tx) return Status::Internal("TargetWriter::Add outside a transaction");
  if (error) return *error;
  if (precise) FERRY_RETURN_IF_ERROR(SendHeld(false));
  size_t ordinary_until = 0;  // events StreamInserts left to the ordinary way
  for (size_t i = 0; i < events.size(); ++i) {
    const ChangeEvent& e = events[i];
    if (e.op() == ferry::v1::OP_END) continue;
    const bool streamed_unit = open_insert_copy && !precise && !options.log_conflicts;
    if (streamed_unit && transport::IsRowBatch(e.op())) {
      Result<bool> streamed = StreamUnitBatch(e, tag);
      if (!streamed.ok()) return Failed(streamed.status(), tag);
      if (*streamed) continue;
    }
    if (streamed_unit && i >= ordinary_until) {
      Result<size_t> copied = StreamInserts(events, i, tag, ordinary_until);
      if (!copied.ok()) return Failed(copied.status(), tag);
      if (*copied > 0) {
        i += *copied - 1;
        continue;
      }
    }
    if (transport::IsRowBatch(e.op()) && !precise) {
      Result<bool> streamed = StreamBatch(e, tag);
      if (!streamed.ok()) return Failed(streamed.status(), tag);
      if (*streamed) continue;
    }
    held.push_back({&e, tag});
    if (transport::IsRowBatch(e.op())) {
      held_batch_bytes += RowBatchBytes(e);
    } else {
      ++held_rows;
    }
  }
  if (precise || held_rows >= options.max_run_events || held_batch_bytes >= kHeldBatchBytes) {
    return SendHeld(precise);
  }
  return Status::OK();
}

Status TargetWriter::Impl::Begin(bool with_position, const TopicPartition& where, const ApplyPosition& expected) {
  if (broken) return Status::Unavailable("the connection to the target was lost earlier: reconnect");
  if (in_tx) return Status::Internal("TargetWriter::Begin inside a transaction");
  moved = false;
  copy_refused = false;
  open_insert_copy = false;
  Reset();
  FERRY_RETURN_IF_ERROR(ReleaseOrigin());  // still held after a failed COMMIT
  if (prepared.size() > kMaxPrepared) {
    FERRY_RETURN_IF_ERROR(Lost(conn.Exec("DEALLOCATE ALL").status()));
    prepared.clear();
  }
  FERRY_RETURN_IF_ERROR(Lost(conn.Exec("BEGIN; SET CONSTRAINTS ALL DEFERRED").status()));
  in_tx = true;
  has_position = with_position;
  tp = where;
  if (!with_position) return TakeOrigin();
  Result<PgResult> row = conn.ExecParams(kLockProgressSql, {where.topic, std::to_string(where.partition)});
  Result<ApplyPosition> held = row.ok() && PQntuples(row->get()) == 1
                                   ? ProgressFromRow(row->get(), 0)
                                   : Result<ApplyPosition>(row.ok() ? Status::NotFound("no position row")
                                                                    : row.status());
  if (held.ok() && held->SameAs(expected)) return TakeOrigin();
  Abort();
  if (!held.ok() && !held.status().IsNotFound()) return Lost(held.status());
  moved = true;
  return Status::Unavailable("the target's position for " + where.ToString() + " is " +
                             (held.ok() ? held->ToString() : std::string("missing")) + ", not " +
                             expected.ToString() + " as this apply process expected: another apply "
                             "process applied from this partition");
}

// In the open transaction, once the position row is locked (so the processes
// of a pipeline take turns): one session at a time may hold an origin.
Status TargetWriter::Impl::TakeOrigin() {
  if (options.replication_origin.empty()) return Status::OK();
  Status st = conn.ExecParams(kOriginSetupSql, {options.replication_origin}).status();
  if (st.ok()) {
    origin_held = true;
    return st;
  }
  Abort();
  return Lost(st.WithContext("marking the target transaction with replication origin '" +
                             options.replication_origin + "' (another apply process of this pipeline may "
                             "hold it for a moment)"));
}

// pg_replication_origin_xact_setup: the commit record carries the source
// commit's end, which the origin's remote_lsn becomes.
Status TargetWriter::Impl::SendOriginPosition(const ApplyPosition& position) {
  Statement st;
  st.sql = kOriginXactSql;
  st.owned = {std::max(position.commit_end_lsn, position.commit_lsn).ToString(),
              std::to_string(position.commit_time_us)};
  for (const auto& v : st.owned) st.params.push_back(v.c_str());
  Command info;
  info.description = "recording the position " + position.ToString() + " in replication origin '" +
                     options.replication_origin + "'";
  return Send(st, std::move(info));
}

// Outside a transaction. A lost connection releases the origin with its backend.
Status TargetWriter::Impl::ReleaseOrigin() {
  if (!origin_held) return Status::OK();
  origin_held = false;
  if (broken || PQstatus(conn.get()) != CONNECTION_OK) return Status::OK();
  return Lost(conn.Exec(kOriginResetSql).status());
}

Status TargetWriter::Impl::Commit(const ApplyPosition* position) {
  if (!in_tx) return Status::Internal("TargetWriter::Commit outside a transaction");
  if (error) return *error;
  FERRY_RETURN_IF_ERROR(SendHeld(false));
  Statement update;
  if (has_position && position != nullptr) {
    update.owned = ProgressParams(tp, *position);
    update.sql = kUpdateProgressSql;
    for (const auto& v : update.owned) update.params.push_back(v.c_str());
    Command info;
    info.description = "recording the position " + position->ToString();
    FERRY_RETURN_IF_ERROR(Send(update, std::move(info)));
    if (origin_held) FERRY_RETURN_IF_ERROR(SendOriginPosition(*position));
  }
  FERRY_RETURN_IF_ERROR(SendPlain("COMMIT", kNoTag, "committing a target transaction"));
  if (origin_held) {
    // Skipped by the server when anything before it failed: Abort resets then.
    FERRY_RETURN_IF_ERROR(
        SendPlain(kOriginResetSql, kNoTag, "resetting replication origin '" + options.replication_origin + "'"));
  }
  FERRY_RETURN_IF_ERROR(SyncPipeline());
  if (error) return *error;
  origin_held = false;
  in_tx = false;
  for (const auto& [key, n] : pending_conflicts) {
    stats->Add(std::get<0>(key), std::get<1>(key), std::get<2>(key), n);
  }
  for (const auto& line : pending_log) spdlog::info("{}", line);
  Reset();
  return Status::OK();
}

void TargetWriter::Impl::Abort() {
  if (open_copy) {
    if (!open_copy->in->Cancel().ok()) broken = true;
    open_copy.reset();
  }
  if (pipeline) SyncPipeline().PermitUncheckedError();
  if (!broken && PQstatus(conn.get()) == CONNECTION_OK && PQtransactionStatus(conn.get()) != PQTRANS_IDLE) {
    Result<PgResult> rollback = conn.Exec("ROLLBACK");
    if (!rollback.ok()) {
      spdlog::warn("rolling back on the target failed: {}", rollback.status().ToString());
      broken = true;
    }
  }
  if (PQstatus(conn.get()) != CONNECTION_OK) broken = true;
  in_tx = false;
  if (!ReleaseOrigin().ok()) spdlog::warn("resetting replication origin '{}' failed", options.replication_origin);
  // DDL of the transaction (created tables, added columns) is undone with it.
  catalog.Clear();
  ++catalog_epoch;
  Reset();
}

void TargetWriter::Impl::Reset() {
  open_copy.reset();
  pipeline.reset();
  commands.clear();
  first_command = 0;
  new_prepares.clear();
  held.clear();
  held_rows = held_batch_bytes = 0;
  error.reset();
  failed_tag.reset();
  pending_conflicts.clear();
  pending_log.clear();
  copies = 0;
}

TargetWriter::TargetWriter(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TargetWriter::~TargetWriter() = default;

Result<std::unique_ptr<TargetWriter>> TargetWriter::Connect(const std::string& conninfo,
                                                            const TargetWriterOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  if (options.stats != nullptr) impl->stats = options.stats;
  FERRY_ASSIGN_OR_RETURN(impl->conn, PgConn::Connect(conninfo, {{"application_name", "ferry-apply"}}));
  PQsetNoticeProcessor(impl->conn.get(), LogNotice, nullptr);
  FERRY_RETURN_IF_ERROR(impl->conn.Exec(kSessionSettings).status());
  if (!options.target_triggers) {
    Status replica = impl->conn.Exec("SET session_replication_role = replica").status();
    if (!replica.ok() && !replica.IsRetriable()) {
      return Status::InvalidArgument(
          "apply runs with session_replication_role = replica, as PostgreSQL's own subscriber does, so that "
          "the target's triggers and foreign-key actions do not fire a second time; the target refused it (" +
          replica.message() + "): connect as a superuser, or GRANT SET ON PARAMETER session_replication_role "
          "TO the apply role, or run apply with --target-triggers");
    }
    FERRY_RETURN_IF_ERROR(replica);
  }
  FERRY_RETURN_IF_ERROR(EnsureProgressTable(impl->conn));
  if (!options.replication_origin.empty()) {
    FERRY_RETURN_IF_ERROR(EnsureReplicationOrigin(impl->conn, options.replication_origin));
  }
  return std::unique_ptr<TargetWriter>(new TargetWriter(std::move(impl)));
}

Result<ApplyPosition> TargetWriter::LoadPosition(const TopicPartition& tp) {
  if (impl_->broken) return Status::Unavailable("the connection to the target was lost earlier: reconnect");
  if (impl_->in_tx) return Status::Internal("TargetWriter::LoadPosition inside a transaction");
  Result<ApplyPosition> position = impl_->LoadPosition(tp);
  if (!position.ok()) impl_->Lost(position.status()).PermitUncheckedError();
  return position;
}

// With an origin, the row's first INSERT is marked like every other write of
// apply's; an existing row seeds an origin that never recorded a position.
Result<ApplyPosition> TargetWriter::Impl::LoadPosition(const TopicPartition& where) {
  if (options.replication_origin.empty()) return LoadOrCreateProgress(conn, where);
  FERRY_ASSIGN_OR_RETURN(std::optional<ApplyPosition> held, LoadProgress(conn, where));
  if (held) {
    if (held->offset >= 0) {
      FERRY_RETURN_IF_ERROR(SeedReplicationOrigin(conn, options.replication_origin, held->commit_lsn));
    }
    return std::move(*held);
  }
  FERRY_RETURN_IF_ERROR(Begin(false, {}, {}));
  Result<ApplyPosition> created = LoadOrCreateProgress(conn, where);
  Status st = created.ok() ? Commit(nullptr) : created.status();
  if (!st.ok()) {
    Abort();
    return st;
  }
  return created;
}

Status TargetWriter::Begin(const TopicPartition& tp, const ApplyPosition& expected) {
  return impl_->Begin(true, tp, expected);
}

Status TargetWriter::Add(std::span<const ChangeEvent> events, size_t tag, bool precise) {
  FERRY_RETURN_IF_ERROR(impl_->Hold(events, tag, precise));
  return impl_->SendHeld(precise);
}

Status TargetWriter::Hold(std::span<const ChangeEvent> events, size_t tag) { return impl_->Hold(events, tag, false); }

Status TargetWriter::Commit(const ApplyPosition& position) { return impl_->Commit(&position); }

void TargetWriter::Abort() { impl_->Abort(); }

bool TargetWriter::in_transaction() const { return impl_->in_tx; }

bool TargetWriter::copying() const { return impl_->open_copy.has_value(); }

bool TargetWriter::copying_snapshot_rows() const {
  const auto& copy = impl_->open_copy;
  return copy && !copy->batches.empty() && copy->batches.front().event->op() == ferry::v1::OP_READ_ROWS &&
         impl_->held.empty();
}

void TargetWriter::CopyInsertsOpen() { impl_->open_insert_copy = true; }

bool TargetWriter::copy_refused() const { return impl_->copy_refused; }

std::optional<size_t> TargetWriter::failed_tag() const { return impl_->failed_tag; }

bool TargetWriter::position_moved() const { return impl_->moved; }

Status TargetWriter::ApplyBatch(std::span<const ChangeEvent> events, bool precise) {
  if (events.empty()) return Status::OK();
  FERRY_RETURN_IF_ERROR(impl_->Begin(false, {}, {}));
  Status st = impl_->Hold(events, 0, precise);
  if (st.ok()) st = impl_->Commit(nullptr);
  if (!st.ok()) impl_->Abort();
  return st;
}

const ConflictStats& TargetWriter::conflicts() const { return *impl_->stats; }

}  // namespace ferry::apply
