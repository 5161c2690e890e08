#include "checkpoint/failure_requests.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "checkpoint/rocks_util.h"

namespace ferry::checkpoint {

namespace fs = std::filesystem;

namespace {

Status WriteAtomically(const fs::path& path, const std::string& text) {
  fs::path tmp = path;
  tmp += ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << text;
    if (!out.flush()) return Status::IOError("cannot write " + tmp.string());
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) return Status::IOError("cannot rename " + tmp.string() + ": " + ec.message());
  return Status::OK();
}

std::string ReadAll(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string UniqueName() {
  static std::atomic<int> counter{0};
  auto now = std::chrono::system_clock::now().time_since_epoch().count();
  return std::to_string(now) + "-" + std::to_string(getpid()) + "-" + std::to_string(counter++);
}

}  // namespace

std::string FailureRequestDir(const std::string& state_dir) {
  return state_dir + "/failures-requests";
}

Result<std::string> SendFailureRequest(const std::string& state_dir, const std::string& request,
                                       std::chrono::milliseconds timeout) {
  const fs::path dir = FailureRequestDir(state_dir);
  FERRY_RETURN_IF_ERROR(MakeDirs(dir.string(), "failure request"));
  const std::string name = UniqueName();
  const fs::path req = dir / (name + ".req"), res = dir / (name + ".res");
  FERRY_RETURN_IF_ERROR(WriteAtomically(req, request + "\n"));
  auto deadline = std::chrono::steady_clock::now() + timeout;
  std::error_code ec;
  while (!fs::exists(res, ec)) {
    if (std::chrono::steady_clock::now() >= deadline) {
      fs::remove(req, ec);
      return Status::Unavailable(
          "the process holding the failure store under " + state_dir + " did not answer '" +
          request + "' within " + std::to_string(timeout.count() / 1000) +
          " s: is apply running (and not stuck retrying)? Run again once it is, or stop it");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  std::string answer = ReadAll(res);
  fs::remove(res, ec);
  size_t nl = answer.find('\n');
  std::string status = answer.substr(0, nl);
  std::string text = nl == std::string::npos ? "" : answer.substr(nl + 1);
  if (status == "ok") return text;
  return Status::InvalidArgument(text);
}

Result<std::vector<FailureRequest>> PendingFailureRequests(const std::string& state_dir) {
  std::vector<FailureRequest> out;
  std::error_code ec;
  fs::directory_iterator it(FailureRequestDir(state_dir), ec);
  if (ec) return out;  // no directory: nobody asked anything
  for (const auto& entry : it) {
    const fs::path& p = entry.path();
    if (p.extension() != ".req") continue;
    std::string text = ReadAll(p);
    while (!text.empty() && text.back() == '\n') text.pop_back();
    out.push_back({p.stem().string(), text});
  }
  std::sort(out.begin(), out.end(),
            [](const FailureRequest& a, const FailureRequest& b) { return a.name < b.name; });
  return out;
}

Status AnswerFailureRequest(const std::string& state_dir, const FailureRequest& request,
                            const Result<std::string>& outcome) {
  const fs::path dir = FailureRequestDir(state_dir);
  std::string answer = outcome.ok() ? "ok\n" + *outcome : "error\n" + outcome.status().ToString();
  FERRY_RETURN_IF_ERROR(WriteAtomically(dir / (request.name + ".res"), answer));
  std::error_code ec;
  fs::remove(dir / (request.name + ".req"), ec);
  return Status::OK();
}

void RemoveStaleFailureAnswers(const std::string& state_dir) {
  std::error_code ec;
  fs::directory_iterator it(FailureRequestDir(state_dir), ec);
  if (ec) return;
  std::vector<fs::path> stale;
  for (const auto& entry : it) {
    if (entry.path().extension() != ".req") stale.push_back(entry.path());
  }
  for (const auto& p : stale) fs::remove(p, ec);
}

}  // namespace ferry::checkpoint
