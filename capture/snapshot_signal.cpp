#include "capture/snapshot_signal.h"

#include <nlohmann/json.hpp>

namespace ferry::capture {

std::string EncodeSignal(const SnapshotSignal& s) {
  return nlohmann::json{{"slot", s.slot}, {"action", s.action}, {"tables", s.tables}}.dump();
}

Result<SnapshotSignal> DecodeSignal(std::string_view content) {
  try {
    auto j = nlohmann::json::parse(content);
    SnapshotSignal s{j.at("slot").get<std::string>(), j.at("action").get<std::string>(),
                     j.value("tables", std::vector<std::string>())};
    if (s.action != "snapshot" && s.action != "cancel") {
      return Status::InvalidArgument("unknown snapshot signal action '" + s.action + "'");
    }
    return s;
  } catch (const nlohmann::json::exception& e) {
    return Status::InvalidArgument(std::string("malformed snapshot signal: ") + e.what());
  }
}

std::string EncodeWatermark(const Watermark& w) {
  return nlohmann::json{{"slot", w.slot}, {"window", w.window}, {"mark", w.high ? "high" : "low"}}.dump();
}

Result<Watermark> DecodeWatermark(std::string_view content) {
  try {
    auto j = nlohmann::json::parse(content);
    const std::string mark = j.at("mark").get<std::string>();
    if (mark != "low" && mark != "high") return Status::InvalidArgument("unknown watermark mark '" + mark + "'");
    return Watermark{j.at("slot").get<std::string>(), j.at("window").get<std::string>(), mark == "high"};
  } catch (const nlohmann::json::exception& e) {
    return Status::InvalidArgument(std::string("malformed watermark: ") + e.what());
  }
}

std::string EncodeRecopyMark(const RecopyMark& m) {
  return nlohmann::json{{"slot", m.slot}, {"id", m.id}, {"table", m.table}}.dump();
}

Result<RecopyMark> DecodeRecopyMark(std::string_view content) {
  try {
    auto j = nlohmann::json::parse(content);
    return RecopyMark{j.at("slot").get<std::string>(), j.at("id").get<std::string>(),
                      j.at("table").get<std::string>()};
  } catch (const nlohmann::json::exception& e) {
    return Status::InvalidArgument(std::string("malformed recopy mark: ") + e.what());
  }
}

}  // namespace ferry::capture
