// A child process for end-to-end tests: `ferry capture`, `ferry apply`, ...
// started with fork/exec, output to a log file, killed (SIGKILL) on destruction.
//
// Children inherit no file descriptor but stdin, stdout and stderr: a test
// that hosts the dev broker in process (Pipeline's in_process_broker) holds
// its sockets, and a child holding a copy would keep a connection the broker
// closed (a fault) open for its client, which then waits for its socket
// timeout instead of seeing a broker that went down.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

namespace ferry::testing {

class ChildProcess {
 public:
  ChildProcess() = default;
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  ~ChildProcess();

  // argv[0] is the program path. stdout and stderr go to log_path (appended).
  bool Start(const std::vector<std::string>& argv, const std::string& log_path);
  bool running();
  void Signal(int sig);
  // Waits for exit up to `timeout`; returns the exit code, or -1 on timeout,
  // 128+N when killed by signal N.
  int Wait(std::chrono::milliseconds timeout);
  // SIGKILL and reap.
  void Kill();
  pid_t pid() const { return pid_; }
  const std::string& log_path() const { return log_path_; }
  // The last `lines` lines of the log, for failure messages.
  std::string LogTail(int lines = 40) const;

 private:
  pid_t pid_ = -1;
  int exit_code_ = -1;
  std::string log_path_;
};

// Runs `command` with /bin/sh (children inherit fds 0-2 only, as above);
// returns its wait status (as std::system does) and its stdout.
struct ShellResult {
  int status = -1;
  std::string out;
};
ShellResult RunShellCommand(const std::string& command);

// The built `ferry` binary.
std::string FerryBinary();

// Everything `p` has logged so far.
std::string ReadLog(const ChildProcess& p);
// Polls until p's log contains `text`; false on timeout, or when p exited without it.
bool WaitLog(ChildProcess& p, const std::string& text, std::chrono::milliseconds timeout);

}  // namespace ferry::testing
