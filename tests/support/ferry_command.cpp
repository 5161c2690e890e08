#include "tests/support/ferry_command.h"

#include <sys/wait.h>

#include <chrono>

#include "tests/support/process.h"

namespace ferry::testing {

std::string ShellQuote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

FerryRun RunFerry(const std::vector<std::string>& args, const std::string& log_path) {
  std::string cmd = ShellQuote(FerryBinary());
  for (const auto& a : args) {
    cmd += ' ';
    cmd += ShellQuote(a);
  }
  cmd += " 2>>" + ShellQuote(log_path);
  FerryRun r;
  auto start = std::chrono::steady_clock::now();
  ShellResult run = RunShellCommand(cmd);
  if (run.status == -1) return r;
  r.out = std::move(run.out);
  int status = run.status;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

}  // namespace ferry::testing
