#pragma once
// The command line of every executable: options resolved flag > environment > default,
// `--help` (stdout, exit 0) listing each option's default and variables, `--version`,
// and usage errors on stderr with exit code 2.
//
//   vs::cli::parser cli{"vs-bus-dump", "Print the records of a bus channel.", "vs-bus-dump --table"};
//   vs::cli::add_common_options(cli);
//   cli.option("channel", "NAME", "market", "channel to read");
//   return vs::cli::run(cli, argc, argv, [&] { ...; return 0; });
#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace vs::cli {

/// Exit codes shared by every executable.
inline constexpr int exit_ok = 0;
inline constexpr int exit_failure = 1;
inline constexpr int exit_usage = 2;

/// A bad flag or value; `run` prints it with the usage and exits 2.
struct usage_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

class parser {
public:
    parser(std::string program, std::string summary, std::string examples);

    /// A valued option `--name VALUE` (or `--name=VALUE`). `env` lists variables read when the
    /// flag is absent, first set wins (e.g. {"VS_BINANCE_REST_URL", "BINANCE_PROXY_URL"}).
    parser& option(std::string name, std::string value_name, std::string default_value,
                   std::string help, std::vector<std::string> env = {});
    /// A boolean `--name`.
    parser& flag(std::string name, std::string help);
    /// Free arguments after the options (e.g. a sub-command), described in the usage line.
    parser& positionals(std::string usage);

    /// Parses argv. Returns an exit code when the program must stop now (--help, --version,
    /// usage error), nothing when it should go on.
    std::optional<int> parse(int argc, char** argv);

    std::string get(const std::string& name) const;
    /// True when the option came from the command line or the environment.
    bool given(const std::string& name) const;
    bool is_set(const std::string& flag_name) const;
    long long get_int(const std::string& name, long long min, long long max) const;
    double get_double(const std::string& name, double min, double max) const;
    const std::vector<std::string>& args() const noexcept { return args_; }

    /// Registers with vs::redact the value of every option read from a secret variable
    /// (vs::redact::is_secret_env: --prod-key from VOLSPIKE_API_KEY, ...), however it was given;
    /// `run` calls it, with vs::redact::add_secrets_from_env, before the body.
    void register_secrets() const;

    const std::string& program() const noexcept { return program_; }
    std::string help() const;
    std::string usage() const;

private:
    struct spec {
        std::string name, value_name, default_value, help;
        std::vector<std::string> env;
        bool is_flag = false;
    };
    const spec& find(const std::string& name) const;

    std::string program_, summary_, examples_, positional_usage_;
    std::vector<spec> specs_;
    std::map<std::string, std::string> values_;   // from the command line
    std::map<std::string, bool> flags_;
    std::vector<std::string> args_;
};

/// Splits a comma-separated option value ("BTCUSDT,ETHUSDT"), dropping empty items.
std::vector<std::string> split_list(const std::string& value);

/// Adds --bus-prefix, --state-dir and --log-level with the brief's variables and defaults.
void add_common_options(parser& p);

/// Parses, initialises logging from --log-level (when declared), runs `body`, and maps
/// usage_error to 2 and any other exception to 1 with a message on stderr.
int run(parser& p, int argc, char** argv, const std::function<int()>& body);

}  // namespace vs::cli
