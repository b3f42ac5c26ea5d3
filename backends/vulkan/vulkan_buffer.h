// A buffer of a Vulkan device: a sub-allocation of one of its memory blocks (vulkan_memory.h).
// It keeps its device alive, so that the device's memory outlives every buffer made from it.
#pragma once

#include <cstdint>
#include <memory>

#include "backends/backend.h"
#include "backends/vulkan/vulkan_memory.h"

namespace tessera::backend::vulkan {

class VulkanDevice;

class VulkanBuffer final : public Buffer {
  public:
    VulkanBuffer(std::shared_ptr<VulkanDevice> device, const Allocation& allocation, uint64_t size,
                 MemoryKind kind);
    ~VulkanBuffer() override;
    VulkanBuffer(const VulkanBuffer&) = delete;
    VulkanBuffer& operator=(const VulkanBuffer&) = delete;

    uint64_t size() const override { return size_; }
    MemoryKind kind() const override { return kind_; }
    // Non-null wherever the memory is mapped: every buffer of a device that shares memory with
    // the host (lavapipe, integrated GPUs), host-visible buffers elsewhere.
    void* host_data() override { return allocation_.host(); }

    const VulkanDevice* device() const { return device_.get(); }
    VkBuffer vk_buffer() const { return allocation_.buffer(); }
    uint64_t vk_offset() const { return allocation_.offset; }  // within vk_buffer()
    VkDeviceAddress address() const { return allocation_.address(); }

  private:
    std::shared_ptr<VulkanDevice> device_;
    Allocation allocation_;
    uint64_t size_;
    MemoryKind kind_;
};

}  // namespace tessera::backend::vulkan
