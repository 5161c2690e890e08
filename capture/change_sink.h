// ChangeSink: where capture's decoded transactions go. The seam between
// decoding (EventBuilder) and publishing (Kafka producer + AckTracker), so each
// side is testable alone.
#pragma once

#include <string>

#include "common/lsn.h"
#include "common/status.h"
#include "transport/change_event.pb.h"

namespace ferry::capture {

class ChangeSink {
 public:
  virtual ~ChangeSink() = default;
  virtual Status BeginTransaction(Lsn commit_lsn, Xid xid) = 0;
  // One event of the open transaction, in order; its OP_END last (after the
  // transaction's other events, before CommitTransaction). `key` is the Kafka
  // message key (the row's key, transport/naming.h).
  virtual Status Publish(const std::string& key, const ferry::v1::ChangeEvent& event) = 0;
  virtual Status CommitTransaction(Lsn commit_lsn, Lsn end_lsn) = 0;
};

}  // namespace ferry::capture
