// Cooperative shutdown: SIGINT/SIGTERM set a flag that every stage's main loop
// polls, so positions are flushed and connections closed before exit.
#pragma once

#include <chrono>

namespace ferry {

// Installs handlers for SIGINT and SIGTERM (and ignores SIGPIPE). The first
// signal asks for a clean stop; a second one exits at once (status 128+signal),
// for when a clean stop hangs on an unreachable server. That is safe: every
// stage survives kill -9.
void InstallStopSignals();
// True once SIGINT or SIGTERM arrived (or RequestStop was called).
bool StopRequested();
void RequestStop();
// Sleeps for `d`, or less when a stop is requested meanwhile.
void SleepUnlessStopped(std::chrono::milliseconds d);
// How long a stage's retry loop waits before attempt `attempt` (0-based):
// 0.5 s doubling up to 30 s, jittered to 50-100% so restarted peers spread out.
std::chrono::milliseconds Backoff(int attempt);

}  // namespace ferry
