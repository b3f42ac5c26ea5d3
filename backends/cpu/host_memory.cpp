#include "backends/cpu/host_memory.h"

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

namespace tessera::backend::cpu {

namespace {

// The value of a "Key:   12345 kB" line of /proc/meminfo, in bytes, or 0.
uint64_t meminfo_bytes(const std::string& text, const std::string& key) {
    const size_t at = text.find(key + ":");
    if (at == std::string::npos) return 0;
    std::istringstream line(text.substr(at + key.size() + 1));
    uint64_t kibibytes = 0;
    line >> kibibytes;
    return kibibytes * 1024;
}

}  // namespace

HostMemory host_memory() {
    std::ifstream file("/proc/meminfo");
    std::stringstream text;
    text << file.rdbuf();
    HostMemory memory{meminfo_bytes(text.str(), "MemTotal"),
                      meminfo_bytes(text.str(), "MemAvailable")};
    if (memory.total_bytes == 0) {
        // No /proc: the page count is the next best answer.
        const long pages = sysconf(_SC_PHYS_PAGES);
        const long page_size = sysconf(_SC_PAGE_SIZE);
        if (pages > 0 && page_size > 0) {
            memory.total_bytes = static_cast<uint64_t>(pages) * static_cast<uint64_t>(page_size);
        }
    }
    if (memory.available_bytes == 0) memory.available_bytes = memory.total_bytes;
    return memory;
}

std::string cpu_model_name() {
    std::ifstream file("/proc/cpuinfo");
    std::string line;
    while (std::getline(file, line)) {
        if (line.rfind("model name", 0) != 0) continue;
        const size_t colon = line.find(':');
        if (colon == std::string::npos) continue;
        const size_t begin = line.find_first_not_of(" \t", colon + 1);
        if (begin == std::string::npos) continue;
        return line.substr(begin);
    }
    return "CPU";
}

std::string format_bytes(uint64_t bytes) {
    constexpr const char* kUnits[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    if (bytes < 1024) return std::to_string(bytes) + " bytes";
    auto value = static_cast<double>(bytes) / 1024.0;
    int unit = 0;
    while (value >= 1024.0 && unit < 5) {
        value /= 1024.0;
        ++unit;
    }
    char text[32];
    std::snprintf(text, sizeof(text), "%.2f %s", value, kUnits[unit]);
    return text;
}

}  // namespace tessera::backend::cpu
