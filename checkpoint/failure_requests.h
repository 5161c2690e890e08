// FailureRequests: how `ferry failures retry|drop` and `ferry reconcile --once`
// reach a running apply, which holds the failure store's RocksDB lock (one
// writer per directory) and so must make the change itself.
//
// The client writes <state-dir>/failures-requests/<name>.req and waits for
// <name>.res; apply looks into the directory between batches, runs the
// request, writes the answer and removes the request. Both files are written
// under a temporary name and renamed, so neither side reads half a file.
//   request: one line: "retry <id>", "drop <id>" or "reconcile"
//   answer:  "ok" or "error", a newline, then the text for the operator
// A client that times out removes its request; if apply took it already, the
// answer is left behind and removed at apply's next start.
//
// Thread-safety: any; the protocol is between processes.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "common/status.h"

namespace ferry::checkpoint {

std::string FailureRequestDir(const std::string& state_dir);

// Sends `request` and waits for the answer: its text, or an error with it.
// Unavailable when nothing answered within `timeout` (apply not running).
Result<std::string> SendFailureRequest(const std::string& state_dir, const std::string& request,
                                       std::chrono::milliseconds timeout);

struct FailureRequest {
  std::string name;  // file name without .req
  std::string text;  // the request line
};

// Requests waiting for an answer, oldest first; empty when there is no
// directory.
Result<std::vector<FailureRequest>> PendingFailureRequests(const std::string& state_dir);
// Writes the answer and removes the request.
Status AnswerFailureRequest(const std::string& state_dir, const FailureRequest& request,
                            const Result<std::string>& outcome);
// Removes answers nobody collected (at apply's start).
void RemoveStaleFailureAnswers(const std::string& state_dir);

}  // namespace ferry::checkpoint
