// `tessera devices`: the devices of every backend built in, in the default order (discrete,
// integrated and virtual GPUs, then CPUs), each with the backend and index that --backend and
// --device take.
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "backends/backend.h"
#include "tools/arg_parser.h"
#include "tools/commands.h"
#include "tools/format.h"

namespace tessera::tools {

namespace {

const char* kind_name(backend::DeviceKind kind) {
    switch (kind) {
        case backend::DeviceKind::DiscreteGpu:
            return "discrete GPU";
        case backend::DeviceKind::IntegratedGpu:
            return "integrated GPU";
        case backend::DeviceKind::VirtualGpu:
            return "virtual GPU";
        case backend::DeviceKind::Cpu:
            return "CPU";
    }
    return "unknown";
}

}  // namespace

int run_devices(const Args& args) {
    bool json = false;
    ArgParser parser("tessera devices",
                     "List the devices of every backend built in, in the default order: "
                     "discrete, integrated and virtual GPUs, then CPUs.\n"
                     "Pick one with --backend NAME --device INDEX.");
    parser.flag("--json", &json, "print the list as JSON");
    if (!parser.parse(args)) return 0;

    const std::vector<backend::DeviceInfo> devices = backend::list_devices();
    std::map<std::string, int> next_index;
    nlohmann::json list = nlohmann::json::array();
    if (!json) {
        std::printf("%-8s %-6s %-15s %-11s %s\n", "backend", "index", "kind", "memory", "name");
    }
    for (const backend::DeviceInfo& device : devices) {
        const int index = next_index[device.backend]++;
        if (json) {
            list.push_back({{"backend", device.backend},
                            {"index", index},
                            {"name", device.name},
                            {"kind", kind_name(device.kind)},
                            {"memory_bytes", device.memory_bytes},
                            {"unified_memory", device.unified_memory}});
            continue;
        }
        std::printf("%-8s %-6d %-15s %-11s %s\n", device.backend.c_str(), index,
                    kind_name(device.kind), human_bytes(device.memory_bytes).c_str(),
                    device.name.c_str());
    }
    if (json) std::printf("%s\n", list.dump(2).c_str());
    return 0;
}

}  // namespace tessera::tools
