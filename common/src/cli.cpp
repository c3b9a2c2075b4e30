#include "vs/common/cli.hpp"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <iostream>
#include <sstream>
#include <utility>

#include <spdlog/spdlog.h>

#include "vs/common/env.hpp"
#include "vs/common/log.hpp"
#include "vs/common/redact.hpp"
#include "vs/common/version.hpp"

namespace vs::cli {

parser::parser(std::string program, std::string summary, std::string examples)
    : program_(std::move(program)), summary_(std::move(summary)), examples_(std::move(examples))
{
}

parser& parser::option(std::string name, std::string value_name, std::string default_value,
                       std::string help, std::vector<std::string> env)
{
    specs_.push_back(spec{std::move(name), std::move(value_name), std::move(default_value),
                          std::move(help), std::move(env), false});
    return *this;
}

parser& parser::flag(std::string name, std::string help)
{
    specs_.push_back(spec{std::move(name), {}, {}, std::move(help), {}, true});
    return *this;
}

parser& parser::positionals(std::string usage)
{
    positional_usage_ = std::move(usage);
    return *this;
}

const parser::spec& parser::find(const std::string& name) const
{
    for (const auto& s : specs_) {
        if (s.name == name) {
            return s;
        }
    }
    throw std::logic_error("option --" + name + " was not declared");
}

std::string parser::usage() const
{
    std::string u = "usage: " + program_ + " [options]";
    if (!positional_usage_.empty()) {
        u += " " + positional_usage_;
    }
    return u + "\n";
}

std::string parser::help() const
{
    std::ostringstream o;
    o << program_ << " " << VS_VERSION << " - " << summary_ << "\n\n" << usage() << "\noptions:\n";
    auto all = specs_;
    all.push_back(spec{"help", {}, {}, "print this help and exit", {}, true});
    all.push_back(spec{"version", {}, {}, "print the version and exit", {}, true});
    for (const auto& s : all) {
        std::string left = "  --" + s.name + (s.is_flag ? "" : " " + s.value_name);
        o << left;
        if (left.size() < 30) {
            o << std::string(30 - left.size(), ' ');
        } else {
            o << "\n" << std::string(30, ' ');
        }
        o << s.help;
        if (!s.is_flag) {
            o << " (default: " << (s.default_value.empty() ? "none" : s.default_value);
            if (!s.env.empty()) {
                o << "; env:";
                for (const auto& e : s.env) {
                    o << " " << e;
                }
            }
            o << ")";
        }
        o << "\n";
    }
    o << "\nexit status: 0 ok, 1 failure, 2 usage error\n";
    if (!examples_.empty()) {
        o << "\nexample:\n  " << examples_ << "\n";
    }
    return o.str();
}

std::optional<int> parser::parse(int argc, char** argv)
{
    try {
        for (int i = 1; i < argc; ++i) {
            std::string a = argv[i];
            if (a == "--help" || a == "-h") {
                std::cout << help();
                return exit_ok;
            }
            if (a == "--version") {
                std::cout << program_ << " " << VS_VERSION << "\n";
                return exit_ok;
            }
            if (a == "--") {
                for (++i; i < argc; ++i) {
                    args_.emplace_back(argv[i]);
                }
                break;
            }
            if (a.rfind("--", 0) != 0 || a.size() == 2) {
                if (positional_usage_.empty()) {
                    throw usage_error("unexpected argument '" + a + "'");
                }
                args_.push_back(a);
                continue;
            }
            std::string name = a.substr(2);
            std::optional<std::string> inline_value;
            if (auto eq = name.find('='); eq != std::string::npos) {
                inline_value = name.substr(eq + 1);
                name.resize(eq);
            }
            const spec* s = nullptr;
            for (const auto& candidate : specs_) {
                if (candidate.name == name) {
                    s = &candidate;
                }
            }
            if (s == nullptr) {
                throw usage_error("unknown option '--" + name + "'");
            }
            if (s->is_flag) {
                if (inline_value) {
                    throw usage_error("option '--" + name + "' takes no value");
                }
                flags_[name] = true;
                continue;
            }
            if (inline_value) {
                values_[name] = *inline_value;
            } else if (i + 1 < argc) {
                values_[name] = argv[++i];
            } else {
                throw usage_error("option '--" + name + "' needs a value (" + s->value_name + ")");
            }
        }
    } catch (const usage_error& e) {
        std::cerr << program_ << ": " << redact::apply(e.what()) << "\n" << usage()
                  << "Try '" << program_ << " --help' for more information.\n";
        return exit_usage;
    }
    return std::nullopt;
}

std::string parser::get(const std::string& name) const
{
    const spec& s = find(name);
    if (auto it = values_.find(name); it != values_.end()) {
        return it->second;
    }
    for (const auto& e : s.env) {
        if (auto v = env::first({e.c_str()})) {
            return *v;
        }
    }
    return s.default_value;
}

void parser::register_secrets() const
{
    for (const auto& s : specs_) {
        if (s.is_flag) {
            continue;
        }
        for (const auto& e : s.env) {
            if (redact::is_secret_env(e)) {
                redact::add_env_secret(e, get(s.name));
                break;
            }
        }
    }
}

bool parser::given(const std::string& name) const
{
    const spec& s = find(name);
    if (values_.count(name) != 0) {
        return true;
    }
    for (const auto& e : s.env) {
        if (env::first({e.c_str()})) {
            return true;
        }
    }
    return false;
}

bool parser::is_set(const std::string& flag_name) const
{
    (void)find(flag_name);
    auto it = flags_.find(flag_name);
    return it != flags_.end() && it->second;
}

long long parser::get_int(const std::string& name, long long min, long long max) const
{
    std::string v = get(name);
    errno = 0;
    char* end = nullptr;
    long long x = std::strtoll(v.c_str(), &end, 10);
    if (v.empty() || end == nullptr || *end != '\0' || errno == ERANGE || x < min || x > max) {
        throw usage_error("--" + name + " must be an integer in [" + std::to_string(min) + ", " +
                          std::to_string(max) + "], got '" + v + "'");
    }
    return x;
}

double parser::get_double(const std::string& name, double min, double max) const
{
    std::string v = get(name);
    char* end = nullptr;
    double x = std::strtod(v.c_str(), &end);
    if (v.empty() || end == nullptr || *end != '\0' || !std::isfinite(x) || x < min || x > max) {
        std::ostringstream o;
        o << "--" << name << " must be a number in [" << min << ", " << max << "], got '" << v << "'";
        throw usage_error(o.str());
    }
    return x;
}

std::vector<std::string> split_list(const std::string& value)
{
    std::vector<std::string> out;
    std::stringstream ss{value};
    std::string item;
    while (std::getline(ss, item, ',')) {
        if (!item.empty()) {
            out.push_back(item);
        }
    }
    return out;
}

void add_common_options(parser& p)
{
    p.option("bus-prefix", "PREFIX", "volspike",
             "shared-memory prefix: segments are /dev/shm/PREFIX.CHANNEL", {"VS_BUS_PREFIX"});
    p.option("state-dir", "DIR", "/var/lib/volspike", "durable state (LMDB) directory",
             {"VS_STATE_DIR"});
    p.option("log-level", "LEVEL", "info", "trace, debug, info, warn, error, critical or off",
             {"VS_LOG_LEVEL"});
}

int run(parser& p, int argc, char** argv, const std::function<int()>& body)
{
    redact::add_secrets_from_env();   // before parse: its usage errors are redacted too
    if (auto code = p.parse(argc, argv)) {
        return *code;
    }
    try {
        p.register_secrets();
        bool has_log_level = false;
        try {
            has_log_level = (p.get("log-level"), true);
        } catch (const std::logic_error&) {
            has_log_level = false;
        }
        std::string level = has_log_level ? p.get("log-level") : "info";
        if (!log::valid_level(level)) {
            throw usage_error("--log-level: unknown level '" + level + "'");
        }
        log::init(p.program(), level);
        return body();
    } catch (const usage_error& e) {
        std::cerr << p.program() << ": " << redact::apply(e.what()) << "\n" << p.usage()
                  << "Try '" << p.program() << " --help' for more information.\n";
        return exit_usage;
    } catch (const std::exception& e) {
        std::cerr << p.program() << ": " << redact::apply(e.what()) << "\n";
        return exit_failure;
    }
}

}  // namespace vs::cli
