// Device memory for the Vulkan backend: a few large VkDeviceMemory blocks per memory type, each
// with one VkBuffer over all of it, and buffers carved out of them (sub-allocation), so that a
// model's hundreds of weights and a context's buffers cost a handful of driver allocations.
// Shaders reach memory through buffer device addresses (a block's address plus the offset), so
// no binding range limit (lavapipe's is 128 MiB) caps a tensor.
//
// A request larger than a quarter of a block gets a block of its own, freed with it. Failures
// throw tessera::Error saying how many bytes were needed and how many the heap has left, and
// leave nothing allocated.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "backends/vulkan/vulkan_api.h"

namespace tessera::backend::vulkan {

struct MemoryBlock {
    VkDeviceMemory memory = VK_NULL_HANDLE;
    VkBuffer buffer = VK_NULL_HANDLE;  // over the whole block
    VkDeviceAddress address = 0;
    uint8_t* mapped = nullptr;  // host address of a host-visible (and coherent) block
    uint64_t size = 0;
    uint32_t type_index = 0;
    bool dedicated = false;
    std::map<uint64_t, uint64_t> free_ranges;  // offset -> bytes, coalesced
    uint64_t used = 0;
};

// A range of a block. Offsets and lengths are multiples of kAllocationAlignment.
struct Allocation {
    MemoryBlock* block = nullptr;
    uint64_t offset = 0;
    uint64_t reserved = 0;

    VkBuffer buffer() const { return block->buffer; }
    VkDeviceAddress address() const { return block->address + offset; }
    uint8_t* host() const { return block->mapped != nullptr ? block->mapped + offset : nullptr; }
};

// Every allocation starts at a multiple of this (more than any storage buffer alignment), and
// reserves at least 16 bytes past its end: shaders read whole 32-bit words, and the word after
// a tensor's last unaligned byte must exist.
inline constexpr uint64_t kAllocationAlignment = 256;
inline constexpr uint64_t kAllocationGuard = 16;

class MemoryAllocator {
  public:
    // `unified`: the device shares memory with the host (an integrated GPU, lavapipe), so that
    // device-local memory that is also host-visible is preferred for everything.
    // `map_device_local`: map device-local blocks where the memory allows it (else only
    // host-visible allocations are mapped, and device-local ones never share their blocks).
    MemoryAllocator(VkPhysicalDevice physical_device, VkDevice device, std::string device_name,
                    bool unified, bool map_device_local);
    ~MemoryAllocator();
    MemoryAllocator(const MemoryAllocator&) = delete;
    MemoryAllocator& operator=(const MemoryAllocator&) = delete;

    Allocation allocate(uint64_t size, MemoryKind kind);
    void release(const Allocation& allocation) noexcept;

    // The size of the heap that device-local allocations come from.
    uint64_t device_heap_bytes() const;
    // Whether allocations of this kind are mapped into the host's address space.
    bool host_visible(MemoryKind kind) const;

  private:
    struct TypeChoice {
        std::vector<uint32_t> candidates;  // memory type indices, best first
    };

    // A block of `size` bytes; errors name `requested`, the caller's size.
    MemoryBlock* new_block(uint64_t size, MemoryKind kind, bool dedicated, uint64_t requested);
    void destroy_block(MemoryBlock* block) noexcept;
    static bool take_range(MemoryBlock& block, uint64_t bytes, uint64_t& offset);
    [[noreturn]] void out_of_memory(uint64_t size, MemoryKind kind, const std::string& why) const;
    uint32_t heap_of(MemoryKind kind) const;

    VkDevice device_;
    std::string device_name_;
    bool map_device_local_;
    VkPhysicalDeviceMemoryProperties properties_{};
    uint64_t max_allocation_bytes_ = 0;
    uint64_t block_bytes_ = 0;
    TypeChoice device_local_;
    TypeChoice host_visible_;

    mutable std::mutex mutex_;
    std::vector<std::unique_ptr<MemoryBlock>> blocks_;
    std::vector<uint64_t> heap_used_;  // bytes of blocks per heap
};

}  // namespace tessera::backend::vulkan
