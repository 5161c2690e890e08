#include "capture/replication_stream.h"

#include <poll.h>
#include <spdlog/spdlog.h>

#include "capture/replication_messages.h"

namespace ferry::capture {

Result<std::unique_ptr<ReplicationStream>> ReplicationStream::Start(const StreamOptions& o) {
  FERRY_ASSIGN_OR_RETURN(
      PgConn conn,
      PgConn::Connect(o.conninfo,
                      {{"replication", "database"},
                       {"application_name", "ferry-capture"},
                       {"options", kTextOutputOptions}}));
  // publication_names is a list of identifiers inside a string literal.
  std::string sql = "START_REPLICATION SLOT " + QuoteIdent(o.slot) + " LOGICAL " +
                    o.start.ToString() +
                    " (proto_version '1', publication_names " +
                    QuoteLiteral(QuoteIdent(o.publication)) + ", messages 'true')";
  FERRY_ASSIGN_OR_RETURN(PgResult r, conn.Exec(sql));
  if (PQresultStatus(r.get()) != PGRES_COPY_BOTH) {
    return Status::Internal("START_REPLICATION did not enter streaming mode on " + conn.Describe());
  }
  spdlog::info("streaming slot \"{}\" from {} on {}", o.slot, o.start.ToString(), conn.Describe());
  return std::unique_ptr<ReplicationStream>(new ReplicationStream(std::move(conn)));
}

ReplicationStream::~ReplicationStream() { FreeBuffer(); }

void ReplicationStream::FreeBuffer() {
  if (buffer_ != nullptr) PQfreemem(buffer_);
  buffer_ = nullptr;
}

Status ReplicationStream::WaitReadable(int timeout_ms) {
  pollfd p{PQsocket(conn_.get()), POLLIN, 0};
  int rc = poll(&p, 1, timeout_ms);
  if (rc < 0 && errno != EINTR) return Status::Unavailable("poll on replication socket failed");
  if (rc > 0 && PQconsumeInput(conn_.get()) == 0) {
    return Status::Unavailable("replication connection to " + conn_.Describe() +
                               " lost: " + conn_.LastError());
  }
  return Status::OK();
}

Result<std::optional<std::string_view>> ReplicationStream::Next(int timeout_ms) {
  FreeBuffer();
  for (int attempt = 0; attempt < 2; ++attempt) {
    int n = PQgetCopyData(conn_.get(), &buffer_, /*async=*/1);
    if (n > 0) return std::optional<std::string_view>(std::string_view(buffer_, n));
    if (n == -1) {
      PgResult end(PQgetResult(conn_.get()));
      std::string why = end ? PQresultErrorMessage(end.get()) : "";
      return Status::Unavailable("source ended the replication stream on " + conn_.Describe() +
                                 (why.empty() ? "" : ": " + why));
    }
    if (n == -2) {
      return Status::Unavailable("replication connection to " + conn_.Describe() +
                                 " failed: " + conn_.LastError());
    }
    if (attempt == 0) FERRY_RETURN_IF_ERROR(WaitReadable(timeout_ms));
  }
  return std::optional<std::string_view>();
}

Status ReplicationStream::SendStatus(Lsn written, Lsn flushed, bool reply_requested) {
  std::string msg = BuildStandbyStatusUpdate(written, flushed, flushed, NowPgMicros(), reply_requested);
  if (PQputCopyData(conn_.get(), msg.data(), static_cast<int>(msg.size())) != 1 ||
      PQflush(conn_.get()) != 0) {
    return Status::Unavailable("sending status update to " + conn_.Describe() +
                               " failed: " + conn_.LastError());
  }
  return Status::OK();
}

}  // namespace ferry::capture
