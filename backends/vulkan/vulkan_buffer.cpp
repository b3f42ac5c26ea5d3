#include "backends/vulkan/vulkan_buffer.h"

#include "backends/vulkan/vulkan_device.h"

namespace tessera::backend::vulkan {

VulkanBuffer::VulkanBuffer(std::shared_ptr<VulkanDevice> device, const Allocation& allocation,
                           uint64_t size, MemoryKind kind)
    : device_(std::move(device)), allocation_(allocation), size_(size), kind_(kind) {}

VulkanBuffer::~VulkanBuffer() {
    device_->memory().release(allocation_);
}

}  // namespace tessera::backend::vulkan
