// Runs a one-shot `ferry` subcommand (lag, validate, cutover, ...) to the end,
// for end-to-end tests: its stdout is what the test asserts on, its stderr (the
// log) is appended to a file for failure messages.
#pragma once

#include <string>
#include <vector>

namespace ferry::testing {

struct FerryRun {
  int exit_code = -1;  // 128+N when killed by signal N
  std::string out;     // stdout
  double seconds = 0;
};

// `ferry args...`, stderr appended to `log_path`.
FerryRun RunFerry(const std::vector<std::string>& args, const std::string& log_path);

// `s` quoted for /bin/sh.
std::string ShellQuote(const std::string& s);

}  // namespace ferry::testing
