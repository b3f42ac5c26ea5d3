#include "backends/registry.h"

#include "backends/cpu/cpu_backend.h"

namespace tessera::backend {

std::span<const BackendEntry> backends() {
    static const BackendEntry kBackends[] = {
        {"cpu", cpu::list_devices, cpu::open_device},
    };
    return kBackends;
}

}  // namespace tessera::backend
