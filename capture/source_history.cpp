#include "capture/source_history.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <sstream>

namespace ferry::capture {

namespace {

using checkpoint::SourceHistory;

std::string Describe(const SourceHistory& h) {
  return "system " + std::to_string(h.system_id) + ", timeline " + std::to_string(h.timeline);
}

template <typename T>
Result<T> ParseNumber(std::string_view text, const std::string& what) {
  T value{};
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) {
    return Status::Corruption("malformed " + what + " '" + std::string(text) + "'");
  }
  return value;
}

Status Refuse(const std::string& slot, const std::string& what_happened) {
  return Status::InvalidArgument(
      "replication slot \"" + slot + "\": " + what_happened +
      ". Resuming by LSN would skip this source's transactions silently, so capture stops. If --source "
      "points at the wrong server, fix it. To replicate from this one, start over: drop the slot "
      "(SELECT pg_drop_replication_slot('" + slot + "')) so that capture creates a new one and copies "
      "every table, give capture and apply a new --topic-prefix (apply also a new --group and --state-dir: "
      "its positions are LSNs of the old history too), then run `ferry validate --repair` to remove rows "
      "only the old history had");
}

// Refusal, or OK when the stored timeline's history leads to the source's.
Status CheckTimeline(const SourceHistory& was, Lsn lsn, const SourceIdentity& now, const std::string& slot) {
  auto fork = std::find_if(now.ancestors.begin(), now.ancestors.end(),
                           [&](const TimelineFork& f) { return f.timeline == was.timeline; });
  if (now.history.timeline < was.timeline || fork == now.ancestors.end()) {
    return Refuse(slot, "capture's position " + lsn.ToString() + " is on " + Describe(was) + ", and the source is on " +
                            Describe(now.history) + ", which does not descend from it (restored from an "
                            "older backup?)");
  }
  if (fork->end < lsn) {
    return Refuse(slot, "capture confirmed up to " + lsn.ToString() + " on " + Describe(was) +
                            ", but on the source that timeline ended at " + fork->end.ToString() + " and it now runs " +
                            Describe(now.history) + ": it was restored to an earlier point (PITR) or failed over "
                            "to a replica that had not received that WAL. What capture sent from between the two "
                            "is gone from the source, and its new transactions reuse those LSNs");
  }
  spdlog::warn("source moved from {} to {} (the old timeline ended at {}, at or after capture's position {}): "
               "following it", Describe(was), Describe(now.history), fork->end.ToString(), lsn.ToString());
  return Status::OK();
}

}  // namespace

Result<std::vector<TimelineFork>> ParseTimelineHistory(std::string_view text) {
  std::vector<TimelineFork> out;
  std::istringstream in{std::string(text)};
  for (std::string line; std::getline(in, line);) {
    std::istringstream fields(line);
    std::string timeline, end;
    if (!(fields >> timeline) || timeline[0] == '#') continue;
    if (!(fields >> end)) return Status::Corruption("malformed timeline history line '" + line + "'");
    FERRY_ASSIGN_OR_RETURN(uint32_t tli, ParseNumber<uint32_t>(timeline, "timeline in history line"));
    FERRY_ASSIGN_OR_RETURN(Lsn lsn, Lsn::Parse(end));
    out.push_back({tli, lsn});
  }
  return out;
}

Result<SourceIdentity> IdentifySource(const PgConn& replication) {
  // Columns: systemid, timeline, xlogpos, dbname.
  FERRY_ASSIGN_OR_RETURN(PgResult r, replication.Exec("IDENTIFY_SYSTEM"));
  SourceIdentity id;
  FERRY_ASSIGN_OR_RETURN(id.history.system_id, ParseNumber<uint64_t>(PQgetvalue(r.get(), 0, 0), "system identifier"));
  FERRY_ASSIGN_OR_RETURN(id.history.timeline, ParseNumber<uint32_t>(PQgetvalue(r.get(), 0, 1), "timeline"));
  FERRY_ASSIGN_OR_RETURN(id.flushed, Lsn::Parse(PQgetvalue(r.get(), 0, 2)));
  if (id.history.timeline > 1) {
    // Columns: filename, content.
    FERRY_ASSIGN_OR_RETURN(PgResult h, replication.Exec("TIMELINE_HISTORY " + std::to_string(id.history.timeline)));
    FERRY_ASSIGN_OR_RETURN(id.ancestors, ParseTimelineHistory(std::string_view(
                                             PQgetvalue(h.get(), 0, 1), PQgetlength(h.get(), 0, 1))));
  }
  return id;
}

Result<Lsn> ChooseResumePoint(const StoredPosition& stored, Lsn slot_confirmed, const SourceIdentity& now,
                              const std::string& slot) {
  if (!stored.lsn) return slot_confirmed;
  const Lsn lsn = *stored.lsn;
  if (stored.history && stored.history->system_id != now.history.system_id) {
    return Refuse(slot, "capture's position " + lsn.ToString() + " is on " + Describe(*stored.history) +
                            ", but the source is another PostgreSQL cluster (" + Describe(now.history) +
                            "): a new initdb, a restore of another server, or another server behind the same "
                            "conninfo");
  }
  if (stored.history && stored.history->timeline != now.history.timeline) {
    FERRY_RETURN_IF_ERROR(CheckTimeline(*stored.history, lsn, now, slot));
  }
  if (now.flushed < lsn) {
    return Refuse(slot, "capture confirmed up to " + lsn.ToString() + ", but the source's WAL ends at " +
                            now.flushed.ToString() + " (" + Describe(now.history) +
                            "): it was restored from a file-level copy taken before that point");
  }
  // After a source crash the slot can be behind what capture confirmed: the later.
  return std::max(slot_confirmed, lsn);
}

Result<Lsn> ResumePoint(checkpoint::PositionStore& store, const std::string& key, bool slot_created,
                        Lsn slot_confirmed, const SourceIdentity& source, const std::string& slot) {
  if (slot_created) {
    // A new slot is a new history: an LSN stored for a dropped slot of the same
    // name must not make capture skip past the new one's consistent point.
    FERRY_RETURN_IF_ERROR(store.PutLsnWithHistory(key, slot_confirmed, source.history));
    return slot_confirmed;
  }
  StoredPosition stored;
  FERRY_ASSIGN_OR_RETURN(stored.lsn, store.GetLsn(key));
  FERRY_ASSIGN_OR_RETURN(stored.history, store.GetHistory(key));
  FERRY_ASSIGN_OR_RETURN(Lsn start, ChooseResumePoint(stored, slot_confirmed, source, slot));
  if (stored.history != source.history) {
    FERRY_RETURN_IF_ERROR(store.PutLsnWithHistory(key, stored.lsn.value_or(slot_confirmed), source.history));
  }
  return start;
}

}  // namespace ferry::capture
