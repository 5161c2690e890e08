#include "transport/naming.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <nlohmann/json.hpp>

namespace ferry::transport {

namespace {

constexpr size_t kMaxTopicLength = 249;  // Kafka's limit
constexpr size_t kHashSuffixLength = 9;  // "-" + 8 hex digits
constexpr std::string_view kFerryOriginPrefix = "ferry_";

bool IsNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-';
}

// Appends `part` with every character outside [A-Za-z0-9_-] (and '.' too,
// unless `keep_dots`) replaced by '_'. Returns whether anything was replaced.
bool AppendSanitized(std::string& out, std::string_view part, bool keep_dots) {
  bool replaced = false;
  for (char c : part) {
    if (IsNameChar(c) || (keep_dots && c == '.')) {
      out += c;
    } else {
      out += '_';
      replaced = true;
    }
  }
  return replaced;
}

// FNV-1a, 32 bits, of schema '\0' table: "-1a2b3c4d".
std::string HashSuffix(std::string_view schema, std::string_view table) {
  uint32_t h = 2166136261u;
  auto mix = [&h](unsigned char byte) {
    h ^= byte;
    h *= 16777619u;
  };
  for (char c : schema) mix(static_cast<unsigned char>(c));
  mix(0);
  for (char c : table) mix(static_cast<unsigned char>(c));
  char buf[16];
  std::snprintf(buf, sizeof buf, "-%08x", h);
  return buf;
}

// Printable ASCII other than `"` and `\` stands for itself in JSON.
bool PlainJson(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c >= 0x20 && c <= 0x7e && c != '"' && c != '\\'; });
}

std::string JsonString(std::string_view s) {
  // Most key values (numbers, plain text) need no escaping: spare the JSON
  // library's allocations for them (they were a tenth of capture's CPU).
  if (PlainJson(s)) {
    std::string out;
    out.reserve(s.size() + 2);
    (out += '"').append(s) += '"';
    return out;
  }
  // ASCII-only output (\uXXXX escapes) keeps keys byte-stable across tools;
  // invalid UTF-8 becomes U+FFFD rather than throwing. A key only routes a row
  // to a partition, and equal input still gives equal bytes.
  return nlohmann::json(s).dump(-1, ' ', /*ensure_ascii=*/true,
                                nlohmann::json::error_handler_t::replace);
}

}  // namespace

std::string ChangesTopic(std::string_view prefix) {
  std::string name;
  if (!prefix.empty()) {
    AppendSanitized(name, prefix, /*keep_dots=*/true);
    name += '.';
  }
  name += "changes";
  if (name.size() <= kMaxTopicLength) return name;
  return name.substr(0, kMaxTopicLength - kHashSuffixLength) + HashSuffix(prefix, "changes");
}

std::string ReplicationOriginName(std::string_view prefix) {
  // PostgreSQL names shorter than NAMEDATALEN read well in its views and logs.
  constexpr size_t kMaxOriginLength = 63;
  std::string name(kFerryOriginPrefix);
  AppendSanitized(name, prefix, /*keep_dots=*/true);
  if (name.size() <= kMaxOriginLength) return name;
  return name.substr(0, kMaxOriginLength - kHashSuffixLength) + HashSuffix(prefix, "origin");
}

bool IsFerryOrigin(std::string_view origin) { return origin.starts_with(kFerryOriginPrefix); }

std::string TopicFor(std::string_view prefix, std::string_view schema, std::string_view table) {
  std::string name;
  // The prefix is the operator's namespace ("ferry", "prod.ferry"): dots stay.
  // An empty prefix gives "<schema>.<table>".
  if (!prefix.empty()) {
    AppendSanitized(name, prefix, /*keep_dots=*/true);
    name += '.';
  }
  bool replaced = AppendSanitized(name, schema, /*keep_dots=*/false);
  name += '.';
  replaced |= AppendSanitized(name, table, /*keep_dots=*/false);
  if (!replaced && name.size() <= kMaxTopicLength) return name;
  if (name.size() > kMaxTopicLength - kHashSuffixLength) {
    name.resize(kMaxTopicLength - kHashSuffixLength);
  }
  return name + HashSuffix(schema, table);
}

std::string EncodeRowKey(const std::vector<KeyValue>& key) {
  std::string out = "{";
  for (size_t i = 0; i < key.size(); ++i) {
    if (i > 0) out += ',';
    out += JsonString(key[i].first);
    out += ':';
    out += key[i].second ? JsonString(*key[i].second) : "null";
  }
  out += '}';
  return out;
}

std::string TableKey(const std::string& schema, const std::string& table) {
  return EncodeRowKey({{"__table", schema + "." + table}});
}

}  // namespace ferry::transport
