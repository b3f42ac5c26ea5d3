// What the machine has: the CPU's model name (/proc/cpuinfo) and its memory (/proc/meminfo),
// read when asked.
#pragma once

#include <cstdint>
#include <string>

namespace tessera::backend::cpu {

struct HostMemory {
    uint64_t total_bytes = 0;      // MemTotal
    uint64_t available_bytes = 0;  // MemAvailable
};

HostMemory host_memory();
// "Intel(R) Xeon(R) Platinum 8480+", or "CPU" when /proc/cpuinfo names none.
std::string cpu_model_name();
// "1.50 GiB", "12.0 MiB", "512 bytes".
std::string format_bytes(uint64_t bytes);

}  // namespace tessera::backend::cpu
