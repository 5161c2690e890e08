// The `ferry` subcommands. Each Add*Command registers one subcommand on the app;
// when the user runs it, its callback runs the stage and stores the process exit
// code in *exit_code (0 success, 1 runtime failure, 2 bad usage or input).
#pragma once

#include <CLI/CLI.hpp>

namespace ferry::cli {

void AddDevBrokerCommand(CLI::App& app, int* exit_code);
void AddCaptureCommand(CLI::App& app, int* exit_code);
void AddApplyCommand(CLI::App& app, int* exit_code);
void AddLagCommand(CLI::App& app, int* exit_code);
void AddValidateCommand(CLI::App& app, int* exit_code);
void AddCutoverCommand(CLI::App& app, int* exit_code);
void AddRollbackCommand(CLI::App& app, int* exit_code);
void AddFailuresCommand(CLI::App& app, int* exit_code);
void AddReconcileCommand(CLI::App& app, int* exit_code);
void AddSnapshotCommand(CLI::App& app, int* exit_code);

}  // namespace ferry::cli
