// Topic names and message keys: both are contracts with users' Kafka tooling.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ferry::transport {

// "<prefix>.changes": the one topic (one partition) a pipeline's events travel
// in, in source commit order (change_event.proto). The prefix is sanitized as
// below (its dots kept), so every part of ferry derives the same name from
// --topic-prefix; an empty prefix gives "changes".
std::string ChangesTopic(std::string_view prefix);

// "ferry_<prefix>": the PostgreSQL replication origin apply marks its target
// transactions with (pg_replication_origin_session_setup), unique per pipeline
// as its topic is (the prefix sanitized as above, dots kept; at most 64 bytes,
// a longer prefix is cut and ends in a hash). Capture drops the transactions of
// every origin IsFerryOrigin recognises, so two pipelines in opposite
// directions never send a row back where it came from.
std::string ReplicationOriginName(std::string_view prefix);
bool IsFerryOrigin(std::string_view origin);

// "<prefix>.<schema>.<table>". Characters Kafka does not allow in topic names
// (anything outside [A-Za-z0-9_-], and '.' inside a name) become '_', and then a
// short hash of the original schema and table is appended ("-1a2b3c4d"), so two
// different tables never share a topic. Names over Kafka's 249-character limit
// are shortened the same way.
std::string TopicFor(std::string_view prefix, std::string_view schema, std::string_view table);

// The Kafka message key of a row: a JSON object of its key columns in key
// order, values in PostgreSQL's text form or null: {"id":"42","region":"eu"}.
// Stable: the same values always give the same bytes, so every change of one
// row lands in the same partition.
using KeyValue = std::pair<std::string, std::optional<std::string>>;
std::string EncodeRowKey(const std::vector<KeyValue>& key);
// The Kafka key of every event of a table whose rows have no stable key
// (REPLICA IDENTITY FULL, or no key at all): one partition keeps them in order.
// Capture's stream and its snapshots must use the same one.
std::string TableKey(const std::string& schema, const std::string& table);

}  // namespace ferry::transport
