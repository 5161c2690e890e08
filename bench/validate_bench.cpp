// How long `validate` takes over N equal rows (default 1,000,000), beside a
// baseline measured in the same run on the same clusters: one serial full read
// of the table hashing every row's text on the source alone (the least work
// any validation must do on one side; validate reads each side serially, both
// sides at once).
//
//   build/bench/validate_bench [ROWS]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>

#include "reconcile/validate.h"
#include "tests/support/pg_cluster.h"

namespace {

using ferry::testing::PgCluster;

double Seconds(const std::function<void()>& f) {
  auto start = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
  long rows = argc > 1 ? std::atol(argv[1]) : 1'000'000;
  auto source = PgCluster::Start("bench-src", false);
  auto target = PgCluster::Start("bench-tgt", false);
  if (!source.ok() || !target.ok()) {
    std::fprintf(stderr, "cannot start clusters\n");
    return 1;
  }
  std::string fill =
      "CREATE TABLE items (id bigint PRIMARY KEY, name text, price numeric(12, 2), added timestamptz, "
      "tags text[]); INSERT INTO items SELECT g, 'item ' || g, g / 7.0, '2024-01-01'::timestamptz + "
      "g * interval '1 minute', ARRAY['t' || (g % 10)] FROM generate_series(1, " + std::to_string(rows) +
      ") g";
  for (auto* c : {source->get(), target->get()}) {
    c->Sql(fill);
    c->Sql("VACUUM ANALYZE items");
  }

  double baseline = Seconds([&] {
    (*source)->Sql("SET max_parallel_workers_per_gather = 0; "
                   "SELECT count(*), sum(hashtextextended(ROW(i.*)::text, 0)) FROM items i");
  });
  ferry::reconcile::ValidateOptions o;
  o.source_conninfo = (*source)->conninfo();
  o.target_conninfo = (*target)->conninfo();
  o.tables = {{"public", "items"}};
  bool matched = false;
  double validate = Seconds([&] {
    auto r = ferry::reconcile::Validate(o);
    matched = r.ok() && r->Matches();
  });
  (*target)->Sql("UPDATE items SET price = 0 WHERE id = " + std::to_string(rows / 2));
  o.settle_timeout = std::chrono::milliseconds(0);
  size_t found = 0;
  double one_diff = Seconds([&] {
    auto r = ferry::reconcile::Validate(o);
    found = r.ok() ? r->tables[0].mismatches.size() : 0;
  });

  std::printf("rows                                   %ld\n", rows);
  std::printf("baseline: one hashed read, source only %.2f s\n", baseline);
  std::printf("validate, equal                        %.2f s (%.1fx baseline, %.0f rows/s)%s\n", validate,
              validate / baseline, rows / validate, matched ? "" : "  NOT MATCHED");
  std::printf("validate, one row differs              %.2f s (%.1fx baseline), %zu row(s) found\n",
              one_diff, one_diff / baseline, found);
  return matched && found == 1 ? 0 : 1;
}
