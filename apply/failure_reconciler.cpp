#include "apply/failure_reconciler.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <set>
#include <sstream>

#include "apply/parking.h"

namespace ferry::apply {

namespace {

using checkpoint::ParkedEvent;

constexpr int64_t kFirstBackoffUs = 1'000'000;
constexpr int64_t kMaxBackoffUs = 10'000'000;

bool Due(const ParkedEvent& r, int64_t now_us) {
  int shift = std::min<int>(r.attempts > 0 ? static_cast<int>(r.attempts) - 1 : 0, 20);
  int64_t wait = std::min(kFirstBackoffUs << shift, kMaxBackoffUs);
  return now_us >= r.last_seen_us + wait;
}

// Which records may be replayed now: the heads of their rows, in park order.
class HeadFinder {
 public:
  bool IsHead(const ParkedEvent& r) {
    std::string table(TableOfRow(r.row));
    bool truncate = r.row == table;
    bool head = r.kind == ParkedEvent::Kind::kEvent && !rows_.contains(r.row) &&
                !truncates_.contains(table) && !(truncate && tables_.contains(table));
    rows_.insert(r.row);
    tables_.insert(table);
    if (truncate) truncates_.insert(table);
    return head;
  }

 private:
  std::set<std::string> rows_, tables_, truncates_;
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

}  // namespace

std::string ReconcilePass::ToString() const {
  return "replayed " + std::to_string(replayed) + ", still failing " + std::to_string(failed) +
         ", still parked " + std::to_string(waiting);
}

Status Reconciler::Replay(TargetWriter& writer, const ParkedEvent& r) {
  ferry::v1::ChangeEvent e;
  if (r.kind != ParkedEvent::Kind::kEvent || !e.ParseFromString(r.payload)) {
    return Status::InvalidArgument("parked record " + std::to_string(r.id) +
                                   " is not a ChangeEvent and cannot be replayed; drop it once "
                                   "handled: " + r.error);
  }
  Status st = writer.ApplyBatch({&e, 1});
  if (st.ok()) {
    FERRY_RETURN_IF_ERROR(store_.Remove(r.id));
    spdlog::info("replayed parked event {} ({})", r.id, r.description);
    return st;
  }
  if (IsEventError(st)) {
    FERRY_RETURN_IF_ERROR(store_.RecordAttempt(r.id, st.ToString(), NowMicros()));
  }
  return st;
}

Result<ReconcilePass> Reconciler::Pass(TargetWriter& writer, bool due_only) {
  ReconcilePass pass;
  std::set<uint64_t> tried;  // once per pass
  // A replay makes the row's next record its head: go round until nothing moves.
  for (bool progress = true; progress && store_.Count() > 0;) {
    progress = false;
    FERRY_ASSIGN_OR_RETURN(auto records, store_.List());
    HeadFinder heads;
    int64_t now = NowMicros();
    for (const ParkedEvent& r : records) {
      if (!heads.IsHead(r) || (due_only && !Due(r, now)) || !tried.insert(r.id).second) continue;
      Status st = Replay(writer, r);
      if (st.ok()) {
        ++pass.replayed;
        progress = true;
      } else if (IsEventError(st)) {
        ++pass.failed;
      } else {
        return st;
      }
    }
  }
  pass.waiting = static_cast<int64_t>(store_.Count());
  return pass;
}

Status Reconciler::Retry(TargetWriter& writer, uint64_t id) {
  FERRY_ASSIGN_OR_RETURN(auto records, store_.List());
  HeadFinder heads;
  for (const ParkedEvent& r : records) {
    bool head = heads.IsHead(r);
    if (r.id != id) continue;
    if (!head && r.kind == ParkedEvent::Kind::kEvent) {
      return Status::InvalidArgument("parked event " + std::to_string(id) +
                                     " waits behind an earlier parked event of its row; retry "
                                     "that one first (ferry failures list)");
    }
    return Replay(writer, r);
  }
  return Status::NotFound("no parked event " + std::to_string(id) + " in " + store_.dir());
}

Status Reconciler::Drop(uint64_t id) {
  FERRY_ASSIGN_OR_RETURN(ParkedEvent r, store_.Get(id));
  FERRY_RETURN_IF_ERROR(store_.Remove(id));
  spdlog::warn("dropped parked event {} by request: {} (last error: {})", id, r.description,
               r.error);
  return Status::OK();
}

Result<std::string> Reconciler::Execute(const std::string& request, TargetWriter* writer) {
  std::istringstream in(request);
  std::string verb, arg;
  in >> verb >> arg;
  if (verb == "drop") {
    FERRY_ASSIGN_OR_RETURN(uint64_t id, ParseId(arg));
    FERRY_RETURN_IF_ERROR(Drop(id));
    return "dropped parked event " + std::to_string(id);
  }
  if (verb != "retry" && verb != "reconcile") {
    return Status::InvalidArgument("unknown failure request '" + request + "'");
  }
  if (writer == nullptr) return Status::InvalidArgument("a target connection is needed to replay");
  if (verb == "retry") {
    FERRY_ASSIGN_OR_RETURN(uint64_t id, ParseId(arg));
    FERRY_RETURN_IF_ERROR(Retry(*writer, id));
    return "replayed parked event " + std::to_string(id);
  }
  FERRY_ASSIGN_OR_RETURN(ReconcilePass pass, Pass(*writer, /*due_only=*/false));
  return pass.ToString();
}

}  // namespace ferry::apply
