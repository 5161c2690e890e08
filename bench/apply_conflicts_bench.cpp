// How much conflict detection costs the batched apply: events/s of TargetWriter
// under each rule (inserts, updates, deletes of fresh rows, then the same
// inserts again so that every one conflicts), beside a baseline measured in
// the same run: the plain statements (INSERT / UPDATE / DELETE, no RETURNING,
// no ON CONFLICT) through the same libpq pipeline, one transaction per batch.
//
//   apply_conflicts_bench 'host=/tmp/sock port=5432 dbname=postgres' [events]
//
// Uses (and drops) table bench_conflicts on that database.
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "apply/pipeline.h"
#include "apply/target_writer.h"
#include "common/pg.h"

namespace {

using ferry::v1::ChangeEvent;
using Clock = std::chrono::steady_clock;
constexpr size_t kBatch = 5000;

ChangeEvent Row(ferry::v1::Operation op, int id) {
  ChangeEvent e;
  e.set_schema("public");
  e.set_table("bench_conflicts");
  e.set_op(op);
  e.set_commit_lsn(1000 + id);
  e.add_key_columns("id");
  auto add = [](auto* list, const char* name, const std::string& v) {
    auto* c = list->Add();
    c->set_name(name);
    c->set_kind(ferry::v1::Column::KIND_TEXT);
    c->set_value(v);
  };
  if (op == ferry::v1::OP_DELETE) {
    e.set_old_tuple(ChangeEvent::OLD_KEY);
    add(e.mutable_old_columns(), "id", std::to_string(id));
  } else {
    add(e.mutable_columns(), "id", std::to_string(id));
    add(e.mutable_columns(), "v", "value " + std::to_string(id * 7));
    add(e.mutable_columns(), "n", std::to_string(id));
  }
  return e;
}

std::vector<ChangeEvent> Workload(int n) {
  std::vector<ChangeEvent> out;
  for (auto op : {ferry::v1::OP_INSERT, ferry::v1::OP_UPDATE, ferry::v1::OP_INSERT,
                  ferry::v1::OP_DELETE}) {
    for (int i = 0; i < n; ++i) out.push_back(Row(op, i));
  }
  return out;
}

double Rate(size_t events, Clock::time_point start) {
  return events / std::chrono::duration<double>(Clock::now() - start).count();
}

// The same rows through plain statements: what batching costs without conflict detection.
double Baseline(const ferry::PgConn& conn, const std::vector<ChangeEvent>& events) {
  const char* ins = "INSERT INTO bench_conflicts (id, v, n) VALUES ($1, $2, $3)";
  const char* upd = "UPDATE bench_conflicts SET v = $2, n = $3 WHERE id = $1";
  const char* del = "DELETE FROM bench_conflicts WHERE id = $1";
  auto start = Clock::now();
  bool prepared = false;
  for (size_t b = 0; b < events.size(); b += kBatch) {
    ferry::apply::Pipeline p(conn.get());
    if (!p.Enter().ok()) return 0;
    p.SendQuery("BEGIN").PermitUncheckedError();
    if (!prepared) {
      p.SendPrepare("i", ins, {}).PermitUncheckedError();
      p.SendPrepare("u", upd, {}).PermitUncheckedError();
      p.SendPrepare("d", del, {}).PermitUncheckedError();
      prepared = true;
    }
    for (size_t i = b; i < std::min(events.size(), b + kBatch); ++i) {
      const ChangeEvent& e = events[i];
      // The second round of inserts would violate the key: send it as updates.
      bool second = i >= events.size() / 2 && e.op() == ferry::v1::OP_INSERT;
      if (e.op() == ferry::v1::OP_DELETE) {
        p.SendQueryPrepared("d", {e.old_columns(0).value().c_str()}).PermitUncheckedError();
      } else {
        p.SendQueryPrepared(e.op() == ferry::v1::OP_UPDATE || second ? "u" : "i",
                            {e.columns(0).value().c_str(), e.columns(1).value().c_str(),
                             e.columns(2).value().c_str()})
            .PermitUncheckedError();
      }
    }
    p.SendQuery("COMMIT").PermitUncheckedError();
    auto failure = p.Finish();
    if (!failure.ok() || failure->has_value()) {
      std::fprintf(stderr, "baseline failed: %s\n",
                   failure.ok() ? (*failure)->message.c_str() : failure.status().ToString().c_str());
      return 0;
    }
  }
  return Rate(events.size(), start);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s CONNINFO [events per phase, default 20000]\n", argv[0]);
    return 2;
  }
  spdlog::set_level(spdlog::level::warn);
  const int n = argc > 2 ? std::stoi(argv[2]) : 20000;
  auto conn = ferry::PgConn::Connect(argv[1]);
  if (!conn.ok()) {
    std::fprintf(stderr, "%s\n", conn.status().ToString().c_str());
    return 1;
  }
  const char* reset =
      "DROP TABLE IF EXISTS bench_conflicts; "
      "CREATE TABLE bench_conflicts (id int PRIMARY KEY, v text, n int, extra text DEFAULT 'x')";
  const auto events = Workload(n);
  if (!conn->Exec(reset).ok()) return 1;
  double base = Baseline(*conn, events);
  std::printf("%-10s %10.0f events/s (plain statements, no conflict detection)\n", "baseline", base);
  for (auto [name, rule] : {std::pair{"replace", ferry::apply::ConflictRule::kReplace},
                            {"merge", ferry::apply::ConflictRule::kMerge},
                            {"none", ferry::apply::ConflictRule::kNone}}) {
    if (!conn->Exec(reset).ok()) return 1;
    auto w = ferry::apply::TargetWriter::Connect(argv[1], {rule});
    if (!w.ok()) return 1;
    auto start = Clock::now();
    for (size_t b = 0; b < events.size(); b += kBatch) {
      std::span<const ChangeEvent> batch(events.data() + b, std::min(kBatch, events.size() - b));
      ferry::Status s = (*w)->ApplyBatch(batch);
      if (!s.ok()) {
        std::fprintf(stderr, "%s: %s\n", name, s.ToString().c_str());
        return 1;
      }
    }
    double rate = Rate(events.size(), start);
    std::printf("%-10s %10.0f events/s (%.2fx baseline), conflicts: %s\n", name, rate, rate / base,
                (*w)->conflicts().Summary().c_str());
  }
  conn->Exec("DROP TABLE bench_conflicts").status().PermitUncheckedError();
  return 0;
}
