#include "common/signals.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>

namespace ferry {

namespace {
std::atomic<bool> g_stop{false};
void OnSignal(int sig) {
  if (g_stop.exchange(true)) _exit(128 + sig);
}
}  // namespace

void InstallStopSignals() {
  struct sigaction sa = {};
  sa.sa_handler = OnSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);
}

bool StopRequested() { return g_stop.load(); }
void RequestStop() { g_stop.store(true); }

}  // namespace ferry
