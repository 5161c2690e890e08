#include "common/signals.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <random>
#include <thread>

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

void SleepUnlessStopped(std::chrono::milliseconds d) {
  for (auto until = std::chrono::steady_clock::now() + d;
       std::chrono::steady_clock::now() < until && !StopRequested();) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

std::chrono::milliseconds Backoff(int attempt) {
  thread_local std::mt19937 rng(std::random_device{}());
  int64_t base = std::min<int64_t>(30000, int64_t{500} << std::clamp(attempt, 0, 6));
  return std::chrono::milliseconds(base / 2 + std::uniform_int_distribution<int64_t>(0, base / 2)(rng));
}

}  // namespace ferry
