#include "apply/failure_reconciler.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <limits>
#include <map>
#include <set>
#include <sstream>
#include <vector>

#include "apply/parking.h"

namespace ferry::apply {

namespace {

using checkpoint::ParkedEvent;
using ferry::v1::ChangeEvent;

constexpr int64_t kFirstBackoffUs = 1'000'000;
constexpr int64_t kMaxBackoffUs = 10'000'000;

int64_t DueAt(const ParkedEvent& r) {
  int shift = std::min<int>(r.attempts > 0 ? static_cast<int>(r.attempts) - 1 : 0, 20);
  return r.last_seen_us + std::min(kFirstBackoffUs << shift, kMaxBackoffUs);
}

// The records of one parked unit, in park order.
struct ParkedUnit {
  std::vector<const ParkedEvent*> records;
  bool garbage() const { return records.front()->kind == ParkedEvent::Kind::kGarbage; }
  const ParkedEvent& head() const { return *records.front(); }
  // Its OP_END was parked (records of earlier versions are units of one).
  bool complete() const {
    if (head().unit < 0) return true;
    ChangeEvent last;
    return last.ParseFromString(records.back()->payload) && last.op() == ferry::v1::OP_END;
  }
  std::vector<uint64_t> ids() const {
    std::vector<uint64_t> out;
    for (const ParkedEvent* r : records) out.push_back(r->id);
    return out;
  }
};

// Units in park order (the order of their first records).
std::vector<ParkedUnit> GroupUnits(const std::vector<ParkedEvent>& records) {
  std::vector<ParkedUnit> units;
  std::map<std::pair<TopicPartition, int64_t>, size_t> index;
  for (const ParkedEvent& r : records) {
    if (r.unit < 0) {
      units.push_back({{&r}});
      continue;
    }
    auto [it, is_new] = index.try_emplace({r.source, r.unit}, units.size());
    if (is_new) units.emplace_back();
    units[it->second].records.push_back(&r);
  }
  return units;
}

// Which units may be replayed now: none of their rows waits behind an earlier
// unit still parked.
class Blocked {
 public:
  bool Holds(const ParkedUnit& u) const {
    for (const ParkedEvent* r : u.records) {
      if (r->row.empty()) continue;  // an OP_END
      std::string table(TableOfRow(r->row));
      bool whole_table = r->row == table;  // TRUNCATE, or a REPLICA IDENTITY FULL row
      if (rows_.contains(r->row) || whole_tables_.contains(table) || (whole_table && tables_.contains(table))) {
        return true;
      }
    }
    return false;
  }
  void Add(const ParkedUnit& u) {
    for (const ParkedEvent* r : u.records) {
      if (r->row.empty()) continue;
      std::string table(TableOfRow(r->row));
      rows_.insert(r->row);
      tables_.insert(table);
      if (r->row == table) whole_tables_.insert(table);
    }
  }

 private:
  std::set<std::string> rows_, tables_, whole_tables_;
};

Result<uint64_t> ParseId(const std::string& text) {
  try {
    size_t used = 0;
    uint64_t id = std::stoull(text, &used);
    if (used == text.size()) return id;
  } catch (const std::exception&) {
  }
  return Status::InvalidArgument("'" + text + "' is not a parked event id");
}

std::string Describe(const ParkedUnit& u) {
  const ParkedEvent& h = u.head();
  if (u.records.size() == 1) return "parked event " + std::to_string(h.id) + " (" + h.description + ")";
  return "parked transaction of " + std::to_string(u.records.size() - 1) + " events from " + h.source.ToString() +
         " offset " + std::to_string(h.unit) + " (records " + std::to_string(h.id) + ".." +
         std::to_string(u.records.back()->id) + ", first: " + h.description + ")";
}

// Applies a unit in one target transaction; removes it once applied.
Status Replay(checkpoint::FailureStore& store, TargetWriter& writer, const ParkedUnit& u) {
  if (u.garbage()) {
    return Status::InvalidArgument("parked record " + std::to_string(u.head().id) +
                                   " is not a ChangeEvent and cannot be replayed; drop it once handled: " +
                                   u.head().error);
  }
  std::vector<ChangeEvent> events;
  for (const ParkedEvent* r : u.records) {
    ChangeEvent& e = events.emplace_back();
    if (!e.ParseFromString(r->payload)) return Status::Corruption("parked record " + std::to_string(r->id) + " does not decode");
    if (e.op() == ferry::v1::OP_END) events.pop_back();
  }
  Status st = writer.ApplyBatch(events, /*precise=*/true);
  if (st.ok()) {
    FERRY_RETURN_IF_ERROR(store.Remove(u.ids()));
    spdlog::info("replayed {}", Describe(u));
    return st;
  }
  if (IsEventError(st)) FERRY_RETURN_IF_ERROR(store.RecordAttempt(u.head().id, st.ToString(), NowMicros()));
  return st;
}

}  // namespace

std::string ReconcilePass::ToString() const {
  return "replayed " + std::to_string(replayed) + " transactions, still failing " + std::to_string(failed) +
         ", still parked " + std::to_string(waiting) + " events";
}

Result<ReconcilePass> Reconciler::Pass(TargetWriter& writer, bool due_only) {
  ReconcilePass pass;
  const int64_t now = NowMicros();
  if (due_only && now < quiet_until_us_ && store_.Count() == count_at_quiet_) {
    pass.waiting = static_cast<int64_t>(store_.Count());
    return pass;
  }
  FERRY_ASSIGN_OR_RETURN(auto records, store_.List());
  Blocked blocked;
  int64_t next_due = std::numeric_limits<int64_t>::max();
  for (const ParkedUnit& u : GroupUnits(records)) {
    if (u.garbage()) continue;  // nothing waits behind garbage
    const bool not_due = due_only && DueAt(u.head()) > now;
    if (blocked.Holds(u) || !u.complete() || not_due) {
      if (not_due) next_due = std::min(next_due, DueAt(u.head()));
      blocked.Add(u);
      continue;
    }
    Status st = Replay(store_, writer, u);
    if (st.ok()) {
      ++pass.replayed;
    } else if (IsEventError(st)) {
      ++pass.failed;
      next_due = std::min(next_due, now + kFirstBackoffUs);
      blocked.Add(u);
    } else {
      return st;
    }
  }
  quiet_until_us_ = next_due;
  count_at_quiet_ = store_.Count();
  pass.waiting = static_cast<int64_t>(store_.Count());
  return pass;
}

Status Reconciler::Retry(TargetWriter& writer, uint64_t id) {
  FERRY_ASSIGN_OR_RETURN(auto records, store_.List());
  Blocked blocked;
  for (const ParkedUnit& u : GroupUnits(records)) {
    auto ids = u.ids();
    if (std::find(ids.begin(), ids.end(), id) == ids.end()) {
      if (!u.garbage()) blocked.Add(u);
      continue;
    }
    if (!u.garbage() && blocked.Holds(u)) {
      return Status::InvalidArgument("parked event " + std::to_string(id) +
                                     " waits behind an earlier parked transaction that changes the same rows; "
                                     "retry that one first (ferry failures list)");
    }
    if (!u.complete()) {
      return Status::InvalidArgument("parked event " + std::to_string(id) +
                                     " belongs to a transaction apply has not finished parking");
    }
    quiet_until_us_ = 0;
    return Replay(store_, writer, u);
  }
  return Status::NotFound("no parked event " + std::to_string(id) + " in " + store_.dir());
}

Status Reconciler::Drop(uint64_t id) {
  FERRY_ASSIGN_OR_RETURN(auto records, store_.List());
  for (const ParkedUnit& u : GroupUnits(records)) {
    auto ids = u.ids();
    if (std::find(ids.begin(), ids.end(), id) == ids.end()) continue;
    FERRY_RETURN_IF_ERROR(store_.Remove(ids));
    spdlog::warn("dropped {} by request (last error: {})", Describe(u), u.head().error);
    quiet_until_us_ = 0;
    return Status::OK();
  }
  return Status::NotFound("no parked event " + std::to_string(id) + " in " + store_.dir());
}

Result<std::string> Reconciler::Execute(const std::string& request, TargetWriter* writer) {
  std::istringstream in(request);
  std::string verb, arg;
  in >> verb >> arg;
  if (verb == "drop") {
    FERRY_ASSIGN_OR_RETURN(uint64_t id, ParseId(arg));
    FERRY_RETURN_IF_ERROR(Drop(id));
    return "dropped parked event " + std::to_string(id) + " and the rest of its transaction";
  }
  if (verb != "retry" && verb != "reconcile") {
    return Status::InvalidArgument("unknown failure request '" + request + "'");
  }
  if (writer == nullptr) return Status::InvalidArgument("a target connection is needed to replay");
  if (verb == "retry") {
    FERRY_ASSIGN_OR_RETURN(uint64_t id, ParseId(arg));
    FERRY_RETURN_IF_ERROR(Retry(*writer, id));
    return "replayed parked event " + std::to_string(id) + " with its transaction";
  }
  FERRY_ASSIGN_OR_RETURN(ReconcilePass pass, Pass(*writer, /*due_only=*/false));
  return pass.ToString();
}

}  // namespace ferry::apply
