// vs-snapshot: inspect and export the LMDB snapshots producers keep of their latest table.
#include <unistd.h>

#include <ctime>
#include <filesystem>
#include <iostream>
#include <set>
#include <sstream>
#include <string>

#include <boost/json.hpp>
#include <fmt/format.h>

#include "schemas/schema_info.hpp"
#include "vs/bus/records.hpp"
#include "vs/bus/snapshot.hpp"
#include "vs/common/cli.hpp"
#include "vs/common/clock.hpp"

namespace {

namespace json = boost::json;

json::object info_json(const std::string& channel, const vs::bus::snapshot_store& s)
{
    const auto i = s.info();
    json::object o;
    o["channel"] = channel;
    o["path"] = s.path().string();
    o["records"] = i.count;
    o["saved"] = vs::utc_iso8601(i.saved_ns);
    o["saved_ns"] = i.saved_ns;
    o["writer_generation"] = i.generation;
    o["schema_hash"] = fmt::format("{:016x}", i.schema_hash);
    o["schema_matches"] = i.schema_matches;
    o["layout_version"] = i.layout_version;
    return o;
}

}  // namespace

int main(int argc, char** argv)
{
    vs::cli::parser cli{"vs-snapshot", "list, inspect and export LMDB snapshots of bus channels",
                        "vs-snapshot export --channel market --type MarkPrice > market.jsonl"};
    vs::cli::add_common_options(cli);
    cli.positionals("list | info | get | export")
        .option("channel", "NAME", "market", "channel whose snapshot to read (STATE_DIR/NAME.lmdb)")
        .option("symbol", "S[,S...]", "", "only these symbols (get requires one)")
        .option("type", "T[,T...]", "", "only these record types")
        .flag("json", "JSON output for list/info (export and get always print JSON lines)");
    return vs::cli::run(cli, argc, argv, [&]() -> int {
        if (cli.args().size() != 1) {
            throw vs::cli::usage_error("expected exactly one command: list, info, get or export");
        }
        const std::string cmd = cli.args()[0];
        const std::filesystem::path dir = cli.get("state-dir");
        const bool as_json = cli.is_set("json") || ::isatty(STDOUT_FILENO) == 0;
        std::set<vs::bus::record_type> types;
        for (const auto& t : vs::cli::split_list(cli.get("type"))) {
            auto type = vs::bus::parse_record_type(t);
            if (!type) {
                throw vs::cli::usage_error("--type: unknown record type '" + t + "'");
            }
            types.insert(*type);
        }
        const auto symbol_list = vs::cli::split_list(cli.get("symbol"));
        const std::set<std::string> symbols(symbol_list.begin(), symbol_list.end());
        try {
            if (cmd == "list") {
                std::error_code ec;
                if (!std::filesystem::is_directory(dir, ec)) {
                    std::cerr << "vs-snapshot: state directory " << dir.string() << " does not exist\n";
                    return 1;
                }
                for (const auto& e : std::filesystem::directory_iterator{dir}) {
                    const std::string name = e.path().filename().string();
                    if (name.size() <= 5 || name.substr(name.size() - 5) != ".lmdb" || name == "outbox.lmdb" ||
                        !std::filesystem::exists(e.path() / "data.mdb")) {
                        continue;
                    }
                    const std::string channel = name.substr(0, name.size() - 5);
                    vs::bus::snapshot_store s{dir, channel, true};
                    auto o = info_json(channel, s);
                    if (as_json) {
                        std::cout << json::serialize(o) << "\n";
                    } else {
                        std::cout << fmt::format("{:<12} {:>6} records  saved {}  generation {}  schema {}\n", channel,
                                                 o["records"].as_uint64(), o["saved"].as_string().c_str(),
                                                 o["writer_generation"].as_uint64(),
                                                 o["schema_matches"].as_bool() ? "matches" : "DIFFERS");
                    }
                }
                return 0;
            }
            if (cmd == "info") {
                vs::bus::snapshot_store s{dir, cli.get("channel"), true};
                auto o = info_json(cli.get("channel"), s);
                if (as_json) {
                    std::cout << json::serialize(o) << "\n";
                } else {
                    for (const auto& [k, v] : o) {
                        std::cout << fmt::format("{:<18} {}\n", std::string{k}, json::serialize(v));
                    }
                }
                return 0;
            }
            if (cmd == "get" || cmd == "export") {
                if (cmd == "get" && symbols.size() != 1) {
                    throw vs::cli::usage_error("get needs exactly one --symbol");
                }
                vs::bus::snapshot_store s{dir, cli.get("channel"), true};
                vs::bus::json_decoder dec;
                std::size_t n = 0;
                std::size_t bad = 0;
                s.for_each([&](const vs::bus::record_view& r) {
                    if ((!types.empty() && types.count(r.type) == 0) ||
                        (!symbols.empty() && symbols.count(std::string{r.symbol}) == 0)) {
                        return;
                    }
                    json::object o;
                    o["channel"] = cli.get("channel");
                    o["type"] = std::string{vs::bus::record_type_name(r.type)};
                    o["symbol"] = std::string{r.symbol};
                    o["publish_ns"] = r.publish_ns;
                    if (auto text = dec.decode(r.type, r.data)) {
                        o["record"] = json::parse(*text);
                    } else {
                        o["record"] = nullptr;
                        o["error"] = "record does not verify against this build's schema";
                        ++bad;
                    }
                    std::cout << json::serialize(o) << "\n";
                    ++n;
                });
                if (cmd == "get" && n == 0) {
                    std::cerr << "vs-snapshot: no record for symbol '" << *symbols.begin() << "' in "
                              << s.path().string() << "\n";
                    return 1;
                }
                return bad == 0 ? 0 : 1;
            }
            throw vs::cli::usage_error("unknown command '" + cmd + "' (list, info, get, export)");
        } catch (const vs::bus::bus_error& e) {
            std::cerr << "vs-snapshot: " << e.what() << "\n";
            return 1;
        }
    });
}
