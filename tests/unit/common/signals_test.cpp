#include "common/signals.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

namespace ferry {
namespace {

// In a child: the first SIGTERM only asks to stop; the second exits at once.
TEST(SignalsTest, FirstSignalAsksToStopSecondExitsAtOnce) {
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    InstallStopSignals();
    raise(SIGTERM);
    if (!StopRequested()) _exit(10);
    raise(SIGTERM);
    _exit(11);  // not reached when the second signal exits
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 128 + SIGTERM);
}

}  // namespace
}  // namespace ferry
