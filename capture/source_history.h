// Source history: is the source capture resumes from the one whose position
// it stored?
//
// An LSN is a position in one history of one PostgreSQL system. A source
// restored to an earlier point (PITR) or failed over to a replica continues on
// a new timeline, whose LSNs past the fork reuse numbers the old timeline had
// already used; another cluster behind the same conninfo (a new initdb, a
// restore of another server) has LSNs that mean nothing here. Resuming from
// max(slot, stored LSN) there skips, silently, every new transaction below the
// stored LSN. So capture stores the source's system identifier and timeline
// (IDENTIFY_SYSTEM) with its LSN, and at every session start:
//
//  - nothing stored, or a new slot: the slot's confirmed LSN (a new slot is a
//    new history; the stored history becomes the source's);
//  - same system and timeline: the later of the slot's and the stored LSN (a
//    source crash can move the slot back);
//  - same system, a later timeline that descends from the stored one, which
//    ended at or after the stored LSN (the timeline's history file says where):
//    everything capture confirmed is part of the new history too, so capture
//    follows it, as above, and stores the new timeline;
//  - otherwise (another system identifier; a fork before the stored LSN; a
//    timeline that does not descend from the stored one): InvalidArgument,
//    saying what happened and how to start over.
// In every accepted case the source's WAL must reach the stored LSN: WAL
// ending before it means a file-level restore of the same timeline (refused
// as above). A position stored by a ferry that did not record histories gets
// that check only, then the source's history.
//
// Thread-safety: functions; a PgConn is used by one thread at a time.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "checkpoint/position_store.h"
#include "common/lsn.h"
#include "common/pg.h"
#include "common/status.h"

namespace ferry::capture {

// A line of a timeline history file: `timeline` ended at `end`, where its
// successor in the file begins.
struct TimelineFork {
  uint32_t timeline = 0;
  Lsn end;
};

// Where the source is now.
struct SourceIdentity {
  checkpoint::SourceHistory history;
  Lsn flushed;                         // WAL flushed on the source (IDENTIFY_SYSTEM xlogpos)
  std::vector<TimelineFork> ancestors;  // the current timeline's history; empty on timeline 1
};

// IDENTIFY_SYSTEM and, past timeline 1, TIMELINE_HISTORY.
// REQUIRES: `replication` is a replication connection.
Result<SourceIdentity> IdentifySource(const PgConn& replication);

// "<parent timeline>\t<switch point X/X>\t<reason>" lines (PostgreSQL's format;
// blank lines and # comments skipped). Corruption when a line is malformed.
Result<std::vector<TimelineFork>> ParseTimelineHistory(std::string_view text);

struct StoredPosition {
  std::optional<Lsn> lsn;
  std::optional<checkpoint::SourceHistory> history;
};

// The rule above, for an existing slot: the LSN to stream from, or
// InvalidArgument naming the slot, both histories and what to do.
Result<Lsn> ChooseResumePoint(const StoredPosition& stored, Lsn slot_confirmed, const SourceIdentity& source,
                              const std::string& slot);

// The rule above against capture's store: reads the position stored under
// `key`, chooses where to resume, and stores the source's history with it
// when it changed (with the new slot's LSN for a new slot).
Result<Lsn> ResumePoint(checkpoint::PositionStore& store, const std::string& key, bool slot_created,
                        Lsn slot_confirmed, const SourceIdentity& source, const std::string& slot);

}  // namespace ferry::capture
