// The schema and workload the end-to-end tests replicate.
#pragma once

#include <string>
#include <vector>

namespace ferry::testing {

// Three tables covering the types and keys the pipeline must carry exactly:
// composite primary key; text with quotes/unicode/newlines; NULLs; 30-digit
// numeric; timestamptz; jsonb; bytea; text[].
inline const char* kWorkloadSchema = R"sql(
CREATE TABLE accounts (
  id bigint PRIMARY KEY,
  name text,
  balance numeric(40, 8),
  opened timestamptz,
  profile jsonb,
  avatar bytea,
  tags text[]
);
CREATE TABLE order_items (
  order_id int,
  line int,
  sku text NOT NULL,
  qty int,
  PRIMARY KEY (order_id, line)
);
CREATE TABLE events (
  id bigint PRIMARY KEY,
  payload text,
  at timestamptz
);
)sql";

// (table, ORDER BY) pairs to compare.
inline const std::vector<std::pair<std::string, std::string>> kWorkloadTables = {
    {"accounts", "id"}, {"order_items", "order_id, line"}, {"events", "id"}};

}  // namespace ferry::testing
