#include "capture/replication_stream.h"

#include <poll.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <thread>

#include "capture/replication_messages.h"
#include "common/duration.h"

namespace ferry::capture {

std::chrono::milliseconds DefaultSilenceTimeout(int64_t wal_sender_timeout_ms) {
  return std::chrono::milliseconds(std::max<int64_t>(2 * wal_sender_timeout_ms, 60000));
}

namespace {

// The silence bound: the option, or derived from the session's wal_sender_timeout.
Result<std::chrono::milliseconds> SilenceTimeout(const PgConn& conn, const StreamOptions& o) {
  if (o.silence_timeout.count() > 0) return o.silence_timeout;
  // A replication connection takes the simple query protocol only.
  FERRY_ASSIGN_OR_RETURN(PgResult r, conn.Exec("SELECT setting FROM pg_catalog.pg_settings "
                                               "WHERE name = 'wal_sender_timeout'"));
  int64_t ms = PQntuples(r.get()) == 1 ? std::atoll(PQgetvalue(r.get(), 0, 0)) : 0;
  return DefaultSilenceTimeout(ms);
}

}  // namespace

Result<std::unique_ptr<ReplicationStream>> ReplicationStream::Start(const StreamOptions& o) {
  FERRY_ASSIGN_OR_RETURN(
      PgConn conn,
      PgConn::Connect(o.conninfo,
                      {{"replication", "database"},
                       {"application_name", "ferry-capture"},
                       {"options", kTextOutputOptions}}));
  FERRY_ASSIGN_OR_RETURN(std::chrono::milliseconds silence, SilenceTimeout(conn, o));
  // publication_names is a list of identifiers inside a string literal.
  std::string sql = "START_REPLICATION SLOT " + QuoteIdent(o.slot) + " LOGICAL " +
                    o.start.ToString() +
                    " (proto_version '1', publication_names " +
                    QuoteLiteral(QuoteIdent(o.publication)) + ", messages 'true')";
  FERRY_ASSIGN_OR_RETURN(PgResult r, conn.Exec(sql));
  if (PQresultStatus(r.get()) != PGRES_COPY_BOTH) {
    return Status::Internal("START_REPLICATION did not enter streaming mode on " + conn.Describe());
  }
  if (PQsetnonblocking(conn.get(), 1) != 0) {
    return Status::Unavailable("replication connection to " + conn.Describe() + " failed: " + conn.LastError());
  }
  spdlog::info("streaming slot \"{}\" from {} on {} (taken for dead after {} of silence)", o.slot,
               o.start.ToString(), conn.Describe(), FormatDuration(silence));
  return std::unique_ptr<ReplicationStream>(new ReplicationStream(std::move(conn), silence, o.start, o.gather_pause));
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
  if (rc > 0) {
    if (PQconsumeInput(conn_.get()) == 0) {
      return Status::Unavailable("replication connection to " + conn_.Describe() +
                                 " lost: " + conn_.LastError());
    }
    last_heard_ = Clock::now();
    pinged_ = false;
  }
  return Status::OK();
}

// The walsender sends each pgoutput message on its own. A reader that waits on
// the socket the moment it has read everything is woken for nearly every one
// of them, three per single-row transaction: in a backlog of small
// transactions that wakeup, and the reader's poll and recv after it, were most
// of capture's CPU, and each wakeup cost the walsender too. Pausing once,
// briefly, after the stream ran dry lets the next messages gather so that one
// wakeup and one recv take them all. A transaction arriving alone waits at
// most the pause; while the source is idle the pause happens once per arrival.
// It pauses only once the socket is empty too, and for half as long inside a
// large transaction: the walsender blocks once a few hundred unread messages
// fill the socket (on a Unix socket, each small message costs about 1 kB of
// its buffer), and it sends a large transaction without a break, replaying it
// at its commit. Pausing 0.5 ms there, plus the reader's wakeup on a busy
// machine, left it blocked: the million-row transaction of
// bench/replication_bench.sh took a fifth longer to drain.
void ReplicationStream::LetMessagesGather() {
  if (drained_ || gather_pause_.count() == 0) return;
  drained_ = true;
  std::this_thread::sleep_for(in_large_transaction_ ? gather_pause_ / 2 : gather_pause_);
}

Status ReplicationStream::CheckSilence() {
  auto silent = Clock::now() - last_heard_;
  if (silent >= silence_timeout_) {
    return Status::Unavailable(
        "nothing arrived from the source on the replication connection to " + conn_.Describe() + " for " +
        FormatDuration(std::chrono::duration_cast<std::chrono::milliseconds>(silent)) +
        ", not even a keepalive it was asked for: taking the connection for dead (--replication-timeout " +
        FormatDuration(silence_timeout_) + ")");
  }
  if (!pinged_ && silent >= silence_timeout_ / 2) {
    pinged_ = true;
    spdlog::debug("source silent for half the replication timeout: asking it for a keepalive");
    return SendStatus(written_, flushed_, /*reply_requested=*/true);
  }
  return Status::OK();
}

Result<std::optional<std::string_view>> ReplicationStream::Next(int timeout_ms) {
  // Only time spent in here, listening, counts as the server's silence: the
  // caller may not read for a while (flow control pauses it).
  last_heard_ += Clock::now() - last_left_;
  auto received = Receive(timeout_ms);
  last_left_ = Clock::now();
  return received;
}

Result<std::optional<std::string_view>> ReplicationStream::Receive(int timeout_ms) {
  FreeBuffer();
  // Status updates the socket could not take at once.
  if (PQflush(conn_.get()) < 0) {
    return Status::Unavailable("sending to " + conn_.Describe() + " failed: " + conn_.LastError());
  }
  // 0: what libpq holds; 1: what the socket holds now (libpq reads at most
  // its buffer, 16 kB, at a time: pausing then would stall a fast stream and
  // block the walsender on a full socket); 2: what arrives after the pause.
  for (int attempt = 0; attempt < 3; ++attempt) {
    int n = PQgetCopyData(conn_.get(), &buffer_, /*async=*/1);
    if (n > 0) {
      drained_ = false;
      return std::optional<std::string_view>(std::string_view(buffer_, n));
    }
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
    if (attempt == 0) {
      FERRY_RETURN_IF_ERROR(WaitReadable(0));
    } else if (attempt == 1) {
      LetMessagesGather();
      FERRY_RETURN_IF_ERROR(WaitReadable(timeout_ms));
    }
  }
  FERRY_RETURN_IF_ERROR(CheckSilence());
  return std::optional<std::string_view>();
}

Status ReplicationStream::SendStatus(Lsn written, Lsn flushed, bool reply_requested) {
  std::string msg = BuildStandbyStatusUpdate(written, flushed, flushed, NowPgMicros(), reply_requested);
  // Non-blocking: what the socket cannot take now is sent by a later Next().
  if (PQputCopyData(conn_.get(), msg.data(), static_cast<int>(msg.size())) != 1 ||
      PQflush(conn_.get()) < 0) {
    return Status::Unavailable("sending status update to " + conn_.Describe() +
                               " failed: " + conn_.LastError());
  }
  written_ = written;
  flushed_ = flushed;
  return Status::OK();
}

}  // namespace ferry::capture
