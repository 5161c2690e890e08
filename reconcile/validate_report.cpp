#include "reconcile/validate_report.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

namespace ferry::reconcile {

namespace {

using nlohmann::json;

std::string KeyText(const TableReport& t, const RowMismatch& m) {
  if (t.key_columns.empty()) return "row " + m.key.front();
  std::string out;
  for (size_t i = 0; i < m.key.size(); ++i) {
    out += (i ? ", " : "") + t.key_columns[i] + "=" + m.key[i];
  }
  return out;
}

json KeyJson(const TableReport& t, const RowMismatch& m) {
  json key = json::object();
  if (t.key_columns.empty()) {
    key["row"] = m.key.front();
  } else {
    for (size_t i = 0; i < m.key.size(); ++i) key[t.key_columns[i]] = m.key[i];
  }
  return key;
}

std::string Status(const TableReport& t) { return t.Matches() ? "match" : "DIFFERS"; }

void FormatTable(const TableReport& t, size_t max_listed, std::string* out) {
  *out += fmt::format("{:<32} {:>8}  rows: {} source, {} target  chunks: {} ({} differed)  key: {}\n",
                      t.name.Display(), Status(t), t.source_rows, t.target_rows, t.chunks,
                      t.mismatched_chunks, t.key_source);
  if (t.settled_rows > 0) *out += fmt::format("  {} rows differed while in flight, then matched\n", t.settled_rows);
  if (t.repair_attempted) {
    *out += fmt::format("  repair: {} upserted, {} deleted, {} left (conflict rule none){}\n",
                        t.repaired.upserted, t.repaired.deleted, t.repaired.skipped,
                        t.repair_error.empty() ? "" : "; " + t.repair_error);
  }
  if (t.Matches()) return;
  *out += fmt::format("  {} missing (on source, not on target), {} extra (on target only), {} different; "
                      "seen at source LSN {}\n",
                      t.Count(RowProblem::kMissing), t.Count(RowProblem::kExtra),
                      t.Count(RowProblem::kDifferent), t.seen_at_lsn.ToString());
  for (size_t i = 0; i < t.mismatches.size() && i < max_listed; ++i) {
    *out += fmt::format("    {:<9} {}\n", RowProblemName(t.mismatches[i].problem), KeyText(t, t.mismatches[i]));
  }
  if (t.mismatches.size() > max_listed) {
    *out += fmt::format("    ... and {} more\n", t.mismatches.size() - max_listed);
  }
}

json TableJson(const TableReport& t, size_t max_listed) {
  json rows = json::array();
  for (size_t i = 0; i < t.mismatches.size() && i < max_listed; ++i) {
    rows.push_back({{"problem", RowProblemName(t.mismatches[i].problem)}, {"key", KeyJson(t, t.mismatches[i])}});
  }
  json repair = nullptr;
  if (t.repair_attempted) {
    repair = {{"upserted", t.repaired.upserted}, {"deleted", t.repaired.deleted},
              {"skipped", t.repaired.skipped}, {"error", t.repair_error}};
  }
  return {{"table", t.name.Display()},
          {"match", t.Matches()},
          {"key", t.key_columns},
          {"key_source", t.key_source},
          {"source_rows", t.source_rows},
          {"target_rows", t.target_rows},
          {"chunks", t.chunks},
          {"mismatched_chunks", t.mismatched_chunks},
          {"settled_rows", t.settled_rows},
          {"seen_at_lsn", t.seen_at_lsn.IsValid() ? json(t.seen_at_lsn.ToString()) : json(nullptr)},
          {"missing", t.Count(RowProblem::kMissing)},
          {"extra", t.Count(RowProblem::kExtra)},
          {"different", t.Count(RowProblem::kDifferent)},
          {"listed", rows.size()},
          {"rows", rows},
          {"repair", repair},
          {"seconds", t.seconds}};
}

}  // namespace

std::string FormatValidateReport(const ValidateReport& report, size_t max_listed) {
  std::string out;
  for (const auto& t : report.tables) FormatTable(t, max_listed, &out);
  for (const auto& s : report.skipped) out += fmt::format("{:<32} skipped (not on the target)\n", s.Display());
  out += fmt::format("{}: tables compared: {}, in {:.2f} s\n",
                     report.Matches() ? "MATCH" : "DIFFERENCES FOUND", report.tables.size(), report.seconds);
  return out;
}

std::string ValidateReportJson(const ValidateReport& report, size_t max_listed) {
  json tables = json::array();
  for (const auto& t : report.tables) tables.push_back(TableJson(t, max_listed));
  json skipped = json::array();
  for (const auto& s : report.skipped) skipped.push_back(s.Display());
  json j = {{"match", report.Matches()}, {"seconds", report.seconds}, {"skipped", skipped}, {"tables", tables}};
  return j.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
}

}  // namespace ferry::reconcile
