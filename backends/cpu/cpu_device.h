// The CPU as a device: host memory (both memory kinds are plain host memory here, and the
// memory is unified), memcpy transfers with bounds checks, graphs compiled into CPU schedules,
// and queues with their own threads. The kernels' instruction set is fixed when the device is
// opened (detected, or forced to scalar for tests).
#pragma once

#include <memory>
#include <span>

#include "backends/backend.h"
#include "backends/cpu/cpu_features.h"

namespace tessera::backend::cpu {

class CpuDevice final : public Device {
  public:
    explicit CpuDevice(const CpuFeatures& features);

    const DeviceInfo& info() const override { return info_; }
    const CpuFeatures& features() const { return features_; }

    bool supports(const Graph& graph, const Node& node) const override;

    std::unique_ptr<Buffer> allocate(uint64_t size, MemoryKind kind) override;
    std::unique_ptr<Buffer> wrap_host(const void* data, uint64_t size) override;
    void upload(Buffer& dst, uint64_t offset, std::span<const uint8_t> bytes) override;
    void download(Buffer& src, uint64_t offset, std::span<uint8_t> bytes) override;
    void copy(Buffer& src, uint64_t src_offset, Buffer& dst, uint64_t dst_offset,
              uint64_t size) override;

    std::unique_ptr<Executable> compile(const Graph& graph,
                                        std::span<Buffer* const> buffers) override;
    std::unique_ptr<Queue> create_queue(const QueueOptions& options) override;

  private:
    DeviceInfo info_;
    CpuFeatures features_;
};

}  // namespace tessera::backend::cpu
