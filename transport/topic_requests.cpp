#include "transport/topic_requests.h"

#include <cstdint>
#include <nlohmann/json.hpp>

namespace ferry::transport {

namespace {
constexpr int64_t kMaxPartitions = 10000;
}  // namespace

std::string EncodeTopicRequest(const TopicRequest& request) {
  nlohmann::json j = {{"topic", request.topic}, {"partitions", request.partitions}};
  return j.dump();
}

std::optional<TopicRequest> DecodeTopicRequest(std::string_view value) {
  nlohmann::json j = nlohmann::json::parse(value, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return std::nullopt;
  auto topic = j.find("topic");
  auto partitions = j.find("partitions");
  if (topic == j.end() || !topic->is_string()) return std::nullopt;
  if (partitions == j.end() || !partitions->is_number_integer()) return std::nullopt;
  auto count = partitions->get<int64_t>();
  if (count < 0 || count > kMaxPartitions) return std::nullopt;
  TopicRequest request{topic->get<std::string>(), static_cast<int>(count)};
  if (!IsLegalTopicName(request.topic)) return std::nullopt;
  return request;
}

bool IsLegalTopicName(std::string_view name) {
  if (name.empty() || name.size() > 249 || name == "." || name == "..") return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

}  // namespace ferry::transport
