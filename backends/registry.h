// The backends built into this library, as a constant table: each lists its devices and opens
// one. Vulkan and CUDA add themselves here when they are built.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <vector>

#include "backends/backend.h"

namespace tessera::backend {

struct BackendEntry {
    std::string name;
    std::vector<DeviceInfo> (*list)();
    std::shared_ptr<Device> (*open)(int index);
};

std::span<const BackendEntry> backends();

}  // namespace tessera::backend
