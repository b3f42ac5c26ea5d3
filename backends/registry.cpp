#include "backends/registry.h"

#include "backends/cpu/cpu_backend.h"
#ifdef TESSERA_BUILD_VULKAN
#include "backends/vulkan/vulkan_backend.h"
#endif

namespace tessera::backend {

std::span<const BackendEntry> backends() {
    static const BackendEntry kBackends[] = {
        {"cpu", cpu::list_devices, cpu::open_device},
#ifdef TESSERA_BUILD_VULKAN
        {"vulkan", vulkan::list_devices, vulkan::open_device},
#endif
    };
    return kBackends;
}

}  // namespace tessera::backend
