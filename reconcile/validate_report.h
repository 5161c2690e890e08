// The validate report, for people (a table per line, then the differing rows
// by key) and for machines (JSON). Both list at most `max_listed` rows per
// table; the counts are always complete.
//
// JSON shape:
//   {"match": bool, "seconds": s, "skipped": ["s.t", ..],
//    "tables": [{"table": "s.t", "match": bool, "key": ["id"], "key_source": "primary key",
//                "source_rows": n, "target_rows": n, "chunks": n, "mismatched_chunks": n,
//                "settled_rows": n, "seen_at_lsn": "0/0" | null,
//                "missing": n, "extra": n, "different": n, "listed": n,
//                "rows": [{"problem": "missing", "key": {"id": "5"}}, ..],
//                "repair": null | {"upserted": n, "deleted": n, "skipped": n, "error": ".."},
//                "seconds": s}]}
// A keyless table's rows carry {"row": "(..)"} (the row text) as their key.
#pragma once

#include <cstddef>
#include <string>

#include "reconcile/validate.h"

namespace ferry::reconcile {

std::string FormatValidateReport(const ValidateReport& report, size_t max_listed);
std::string ValidateReportJson(const ValidateReport& report, size_t max_listed);

}  // namespace ferry::reconcile
