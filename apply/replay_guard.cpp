#include "apply/replay_guard.h"

namespace ferry::apply {

checkpoint::EventPosition PositionOf(const ferry::v1::ChangeEvent& e) {
  return {Lsn(e.commit_lsn()), e.index_in_tx()};
}

Result<std::optional<checkpoint::EventPosition>> ReplayGuard::LastApplied(const TopicPartition& tp) {
  auto it = last_.find(tp);
  if (it != last_.end()) return it->second;
  FERRY_ASSIGN_OR_RETURN(auto stored, store_.GetLastApplied(tp));
  if (on_target_) {
    FERRY_ASSIGN_OR_RETURN(auto committed, on_target_(tp));
    if (committed && (!stored || *stored < *committed)) stored = committed;
  }
  last_[tp] = stored;
  return stored;
}

Result<ReplayGuard::Filtered> ReplayGuard::Filter(std::vector<Item> batch) {
  Filtered out;
  std::map<TopicPartition, std::optional<checkpoint::EventPosition>> seen;
  for (Item& item : batch) {
    auto it = seen.find(item.tp);
    if (it == seen.end()) {
      FERRY_ASSIGN_OR_RETURN(auto last, LastApplied(item.tp));
      it = seen.emplace(item.tp, last).first;
    }
    auto& progress = out.progress[item.tp];
    progress.next_offset = std::max(progress.next_offset, item.offset + 1);
    checkpoint::EventPosition pos = PositionOf(item.event);
    if (it->second && pos <= *it->second) {
      ++out.replays;
    } else {
      it->second = pos;
      out.commit_time_us[item.tp] = item.event.commit_time_us();
      out.events.push_back(std::move(item.event));
      out.origins.push_back({item.tp, item.offset});
    }
    progress.last_applied = *it->second;
  }
  return out;
}

Status ReplayGuard::PassOver(const MessageOrigin& origin, Filtered* filtered) {
  auto [it, added] = filtered->progress.try_emplace(origin.tp);
  if (added) {
    FERRY_ASSIGN_OR_RETURN(auto last, LastApplied(origin.tp));
    if (last) it->second.last_applied = *last;
  }
  it->second.next_offset = std::max(it->second.next_offset, origin.offset + 1);
  return Status::OK();
}

void ReplayGuard::Commit(const std::map<TopicPartition, checkpoint::PartitionProgress>& progress) {
  for (const auto& [tp, p] : progress) last_[tp] = p.last_applied;
}

}  // namespace ferry::apply
