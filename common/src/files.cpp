#include "vs/common/files.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

namespace vs::files {

std::error_code create_state_directories(const std::filesystem::path& dir)
{
    std::error_code ec;
    // The missing components, outermost first.
    std::vector<std::filesystem::path> missing;
    for (auto p = dir; !p.empty() && !std::filesystem::exists(p, ec); p = p.parent_path()) {
        missing.push_back(p);
        if (p == p.parent_path()) {
            break;
        }
    }
    for (auto it = missing.rbegin(); it != missing.rend(); ++it) {
        if (::mkdir(it->c_str(), 0750) != 0 && errno != EEXIST) {
            return {errno, std::generic_category()};
        }
        // mkdir applies the umask: set the mode itself.
        if (::chmod(it->c_str(), 0750) != 0) {
            return {errno, std::generic_category()};
        }
    }
    return {};
}

std::error_code restrict_file(const std::filesystem::path& file)
{
    struct stat st {};
    if (::stat(file.c_str(), &st) != 0 || st.st_uid != ::geteuid()) {
        return {};
    }
    if (::chmod(file.c_str(), 0640) != 0) {
        return {errno, std::generic_category()};
    }
    return {};
}

}  // namespace vs::files
