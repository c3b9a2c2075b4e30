#pragma once
// Random byte-level damage to a JSON frame, shared by the parser's mutation tests: each edit
// replaces, deletes, inserts or duplicates bytes, or cuts the frame short, at a random place.
#include <cstddef>
#include <random>
#include <string>
#include <string_view>

namespace vs::test {

/// Applies 1..max_edits edits to `frame`; inserted bytes are drawn from `interesting`.
inline void mutate_frame(std::string& frame, std::mt19937_64& rng, int max_edits, std::string_view interesting)
{
    const int edits = 1 + static_cast<int>(rng() % static_cast<unsigned>(max_edits));
    for (int e = 0; e < edits && !frame.empty(); ++e) {
        const std::size_t at = rng() % frame.size();
        switch (rng() % 5) {
        case 0: frame[at] = interesting[rng() % interesting.size()]; break;
        case 1: frame.erase(at, 1 + rng() % 8); break;
        case 2: frame.insert(at, 1, interesting[rng() % interesting.size()]); break;
        case 3: frame.resize(at); break;
        default: frame.insert(at, frame.substr(rng() % frame.size(), rng() % 16)); break;
        }
    }
}

}  // namespace vs::test
