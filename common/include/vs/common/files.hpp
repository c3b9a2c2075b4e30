#pragma once
// Files and directories of the durable state: modes that do not depend on the umask. A state
// directory is 0750 and a state file 0640 whatever umask the process was started with (under
// umask 000 the defaults would be 0777 and 0666: anyone on the host could read or replace
// the snapshots and the outbox).
#include <filesystem>
#include <system_error>

namespace vs::files {

inline constexpr std::filesystem::perms directory_mode = static_cast<std::filesystem::perms>(0750);
inline constexpr std::filesystem::perms file_mode = static_cast<std::filesystem::perms>(0640);

/// Creates `dir` and every missing parent with mode 0750 (the ones it creates; existing
/// directories keep their mode). Returns the first error, or {}.
std::error_code create_state_directories(const std::filesystem::path& dir);

/// Sets `file` to 0640 when this process may (its owner); a missing file or a file of
/// another user is left alone. Returns the error of chmod for a file this process owns.
std::error_code restrict_file(const std::filesystem::path& file);

}  // namespace vs::files
