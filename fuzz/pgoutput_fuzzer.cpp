// libFuzzer target for everything ferry parses off the replication connection:
// the input is decoded as one pgoutput message, and as one CopyData message of
// the replication stream (whose XLogData payload is decoded as pgoutput too).
//
// Besides the sanitizers' checks, it traps when the decoder breaks its
// contract: OK must mean exactly one handler call, an error none.
//
// Built and run by scripts/fuzz.sh (`make fuzz`); seeds in fuzz/corpus are real
// PostgreSQL 15 messages written by tests/unit/capture/pgoutput_decoder_test.cpp.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <variant>

#include "capture/pgoutput_decoder.h"
#include "capture/replication_messages.h"

namespace {

using namespace ferry;
using namespace ferry::capture;

class NullHandler : public PgOutputHandler {
 public:
  Status OnBegin(const BeginMessage&) override { return Count(); }
  Status OnCommit(const CommitMessage&) override { return Count(); }
  Status OnOrigin(const OriginMessage&) override { return Count(); }
  Status OnRelation(const RelationMessage&) override { return Count(); }
  Status OnType(const TypeMessage&) override { return Count(); }
  Status OnInsert(const InsertMessage&) override { return Count(); }
  Status OnUpdate(const UpdateMessage&) override { return Count(); }
  Status OnDelete(const DeleteMessage&) override { return Count(); }
  Status OnTruncate(const TruncateMessage&) override { return Count(); }
  Status OnMessage(const LogicalMessage&) override { return Count(); }
  int calls = 0;

 private:
  Status Count() {
    ++calls;
    return Status::OK();
  }
};

void DecodePgOutput(std::string_view bytes) {
  NullHandler h;
  Status st = PgOutputDecoder::Decode(bytes, h);
  if (st.ok() ? h.calls != 1 : (h.calls != 0 || !st.IsCorruption())) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  DecodePgOutput(bytes);
  auto m = ParseReplicationMessage(bytes);
  if (!m.ok()) {
    if (!m.status().IsCorruption()) __builtin_trap();
  } else if (const auto* x = std::get_if<XLogData>(&*m)) {
    DecodePgOutput(x->payload);
  }
  return 0;
}
