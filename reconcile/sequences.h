// Copying sequence values from the source to the target, for cutover: logical
// replication does not carry sequences, so without this the target's next
// nextval() would hand out ids the source already used.
//
// Every sequence of the source's user schemas (not pg_catalog,
// information_schema, pg_toast*) is read from the sequence relation itself
// (last_value, is_called: exact, and readable even before the first nextval,
// unlike pg_sequences.last_value), and set on the target with
// setval(seq, last_value, is_called). Every source sequence is looked up on the
// target before any is set: a missing one is an InvalidArgument naming all the
// missing ones, and nothing is changed.
//
// Run it after the source is fenced and lag is zero: a nextval() on the source
// after the copy is not carried.
//
// Thread-safety: function; the connections are used by the calling thread.
#pragma once

#include <string>
#include <vector>

#include "common/pg.h"
#include "common/status.h"

namespace ferry::reconcile {

struct SequenceValue {
  std::string schema;
  std::string name;
  int64_t last_value = 0;
  bool is_called = false;
};

// On OK, `copied` (if given) lists every sequence set on the target, in
// schema/name order.
Status CopySequences(PgConn& source, PgConn& target, std::vector<SequenceValue>* copied = nullptr);

}  // namespace ferry::reconcile
