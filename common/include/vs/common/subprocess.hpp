#pragma once
// Running a short-lived command and reading its standard output: vs-health's `systemctl
// show`, the benchmarks' Python baselines. stderr is inherited (the journal, the terminal).
#include <string>
#include <vector>

namespace vs {

struct command_result {
    /// The exit status; 128 + signal when killed; -1 when the command could not be started.
    int exit_code = -1;
    std::string out;
    /// Why it could not be started ("cannot start python3: No such file or directory").
    std::string error;
};

/// Runs argv (argv[0] looked up in PATH) to its end, with stdout captured.
command_result run_command(const std::vector<std::string>& argv);

}  // namespace vs
