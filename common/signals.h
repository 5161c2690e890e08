// Cooperative shutdown: SIGINT/SIGTERM set a flag that every stage's main loop
// polls, so positions are flushed and connections closed before exit.
#pragma once

namespace ferry {

// Installs handlers for SIGINT and SIGTERM (and ignores SIGPIPE).
void InstallStopSignals();
// True once SIGINT or SIGTERM arrived (or RequestStop was called).
bool StopRequested();
void RequestStop();

}  // namespace ferry
