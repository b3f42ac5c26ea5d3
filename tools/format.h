// Human-readable numbers for reports: "241.9 MiB", "268.1M".
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

namespace tessera::tools {

inline std::string human_bytes(uint64_t bytes) {
    const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double value = static_cast<double>(bytes);
    int unit = 0;
    while (value >= 1024.0 && unit < 4) {
        value /= 1024.0;
        ++unit;
    }
    char buffer[32];
    std::snprintf(buffer, sizeof buffer, unit == 0 ? "%.0f %s" : "%.1f %s", value, units[unit]);
    return buffer;
}

inline std::string human_count(uint64_t count) {
    const char* units[] = {"", "K", "M", "B", "T"};
    double value = static_cast<double>(count);
    int unit = 0;
    while (value >= 1000.0 && unit < 4) {
        value /= 1000.0;
        ++unit;
    }
    char buffer[32];
    std::snprintf(buffer, sizeof buffer, unit == 0 ? "%.0f%s" : "%.1f%s", value, units[unit]);
    return buffer;
}

}  // namespace tessera::tools
