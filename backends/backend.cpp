#include "backends/backend.h"

#include <algorithm>

#include "backends/registry.h"
#include "formats/error.h"

namespace tessera::backend {

const char* op_name(Op op) {
    static constexpr const char* kNames[kOpCount] = {
        "GET_ROWS", "MUL_MAT",    "ADD",       "MUL",    "SCALE",    "RMS_NORM",     "ROPE",
        "SILU",     "GELU",       "GELU_TANH", "SWIGLU", "GEGLU",    "SOFTMAX",      "SOFTCAP",
        "KV_STORE", "FLASH_ATTN", "ARGMAX",    "TOP_K",  "MTP_HEAD", "DRAFT_VERIFY",
    };
    const auto index = static_cast<int>(op);
    return index >= 0 && index < kOpCount ? kNames[index] : "UNKNOWN";
}

uint64_t Tensor::row_bytes() const {
    return quant::row_bytes(quant::type_info(type), static_cast<uint64_t>(shape[0]));
}

uint64_t Tensor::n_bytes() const {
    return row_bytes() * static_cast<uint64_t>(shape[1] * shape[2] * shape[3]);
}

std::vector<DeviceInfo> list_devices() {
    std::vector<DeviceInfo> devices;
    for (const BackendEntry& entry : backends()) {
        for (DeviceInfo& info : entry.list()) devices.push_back(std::move(info));
    }
    // Stable: within a kind, each backend's own order is kept.
    std::stable_sort(devices.begin(), devices.end(), [](const DeviceInfo& a, const DeviceInfo& b) {
        return static_cast<int>(a.kind) < static_cast<int>(b.kind);
    });
    return devices;
}

std::shared_ptr<Device> open_device(const std::string& backend, int index) {
    for (const BackendEntry& entry : backends()) {
        if (backend != entry.name) continue;
        const auto devices = entry.list();
        if (index < 0 || static_cast<size_t>(index) >= devices.size()) {
            throw Error("backend '" + backend + "' has no device " + std::to_string(index) +
                        " (it has " + std::to_string(devices.size()) + "; see 'tessera devices')");
        }
        return entry.open(index);
    }
    std::string known;
    for (const BackendEntry& entry : backends()) known += (known.empty() ? "" : ", ") + entry.name;
    throw Error("unknown backend '" + backend + "' (built in: " + known + ")");
}

}  // namespace tessera::backend
