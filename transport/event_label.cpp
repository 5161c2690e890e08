#include "transport/event_label.h"

#include "common/lsn.h"
#include "common/pg.h"
#include "transport/change_event.pb.h"

namespace ferry::transport {

std::string DescribeMessage(std::string_view key, std::string_view value) {
  std::string size = std::to_string(value.size()) + " bytes";
  ferry::v1::ChangeEvent e;
  if (!e.ParseFromArray(value.data(), static_cast<int>(value.size())) || e.table().empty()) {
    return "a message of " + size;
  }
  std::string op = ferry::v1::Operation_Name(e.op()).substr(3);  // "OP_INSERT" -> "INSERT"
  return op + " of " + QuoteIdent(e.schema()) + "." + QuoteIdent(e.table()) + " at commit LSN " +
         Lsn(e.commit_lsn()).ToString() + " (event " + std::to_string(e.index_in_tx()) +
         " of its transaction), key " + std::string(key.substr(0, 200)) + ", " + size;
}

}  // namespace ferry::transport
