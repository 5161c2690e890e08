// Names a Kafka message so that an operator can find its row: for a change
// event, the operation, table, commit LSN and key, e.g.
//   UPDATE of "public"."docs" at commit LSN 0/1A2B3C4 (event 3 of its transaction), key {"id":"7"}
// and for anything else, its size. Used in errors about one message (too
// large for Kafka); the value is decoded only then.
//
// Thread-safety: a function.
#pragma once

#include <string>
#include <string_view>

namespace ferry::transport {

std::string DescribeMessage(std::string_view key, std::string_view value);

}  // namespace ferry::transport
