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
  // topic and key as Kafka will get them.
  virtual Status Publish(const std::string& topic, const std::string& key,
                         const ferry::v1::ChangeEvent& event) = 0;
  virtual Status CommitTransaction(Lsn commit_lsn, Lsn end_lsn) = 0;
};

}  // namespace ferry::capture
