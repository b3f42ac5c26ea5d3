#include "backends/cpu/cpu_device.h"

#include <cstring>
#include <string>

#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/cpu_buffer.h"
#include "backends/cpu/cpu_executable.h"
#include "backends/cpu/cpu_queue.h"
#include "backends/cpu/host_memory.h"
#include "backends/cpu/node_checks.h"
#include "formats/error.h"

namespace tessera::backend::cpu {

namespace {

DeviceInfo cpu_device_info() {
    DeviceInfo info;
    info.backend = "cpu";
    info.name = cpu_model_name();
    info.kind = DeviceKind::Cpu;
    info.memory_bytes = host_memory().total_bytes;
    info.unified_memory = true;
    return info;
}

// The host address of bytes [offset, offset + size) of a buffer, after checking the range.
uint8_t* host_range(Buffer& buffer, uint64_t offset, uint64_t size, const char* what) {
    if (offset > buffer.size() || size > buffer.size() - offset) {
        throw Error(std::string("cpu: ") + what + " of bytes " + std::to_string(offset) + ".." +
                    std::to_string(offset + size) + " is outside the buffer of " +
                    std::to_string(buffer.size()) + " bytes");
    }
    auto* data = static_cast<uint8_t*>(buffer.host_data());
    if (data == nullptr) {
        throw Error(std::string("cpu: ") + what + " needs a buffer in host memory");
    }
    return data + offset;
}

}  // namespace

CpuDevice::CpuDevice(const CpuFeatures& features) : info_(cpu_device_info()), features_(features) {}

bool CpuDevice::supports(const Graph& graph, const Node& node) const {
    return !check_node(graph, node, features_).has_value();
}

std::unique_ptr<Buffer> CpuDevice::allocate(uint64_t size, MemoryKind kind) {
    return std::make_unique<CpuBuffer>(size, kind);
}

std::unique_ptr<Buffer> CpuDevice::wrap_host(const void* data, uint64_t size) {
    if (data == nullptr && size > 0) throw Error("cpu: wrap_host of a null pointer");
    return std::make_unique<CpuBuffer>(data, size);
}

void CpuDevice::upload(Buffer& dst, uint64_t offset, std::span<const uint8_t> bytes) {
    uint8_t* target = host_range(dst, offset, bytes.size(), "upload");
    if (!bytes.empty()) std::memcpy(target, bytes.data(), bytes.size());
}

void CpuDevice::download(Buffer& src, uint64_t offset, std::span<uint8_t> bytes) {
    const uint8_t* source = host_range(src, offset, bytes.size(), "download");
    if (!bytes.empty()) std::memcpy(bytes.data(), source, bytes.size());
}

void CpuDevice::copy(Buffer& src, uint64_t src_offset, Buffer& dst, uint64_t dst_offset,
                     uint64_t size) {
    const uint8_t* source = host_range(src, src_offset, size, "copy source");
    uint8_t* target = host_range(dst, dst_offset, size, "copy destination");
    // memmove: copying within one buffer may overlap.
    if (size > 0) std::memmove(target, source, size);
}

std::unique_ptr<Executable> CpuDevice::compile(const Graph& graph,
                                               std::span<Buffer* const> buffers) {
    return std::make_unique<CpuExecutable>(graph, buffers, features_);
}

std::unique_ptr<Queue> CpuDevice::create_queue(const QueueOptions& options) {
    return std::make_unique<CpuQueue>(options);
}

std::vector<DeviceInfo> list_devices() {
    return {cpu_device_info()};
}

std::shared_ptr<Device> open_device(int index) {
    if (index != 0) {
        throw Error("backend 'cpu' has no device " + std::to_string(index) + " (it has 1)");
    }
    return std::make_shared<CpuDevice>(detect_cpu_features());
}

std::shared_ptr<Device> open_device_with_features(const CpuFeatures& features) {
    return std::make_shared<CpuDevice>(features);
}

}  // namespace tessera::backend::cpu
