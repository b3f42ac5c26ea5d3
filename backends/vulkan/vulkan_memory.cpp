#include "backends/vulkan/vulkan_memory.h"

#include <algorithm>
#include <limits>

#include "backends/cpu/host_memory.h"
#include "formats/error.h"

namespace tessera::backend::vulkan {

namespace {

constexpr uint64_t kDefaultBlockBytes = uint64_t{64} << 20;

constexpr VkBufferUsageFlags kBufferUsage =
    VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT |
    VK_BUFFER_USAGE_TRANSFER_DST_BIT | VK_BUFFER_USAGE_SHADER_DEVICE_ADDRESS_BIT;

constexpr VkMemoryPropertyFlags kDeviceLocal = VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT;
constexpr VkMemoryPropertyFlags kMappable =
    VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
constexpr VkMemoryPropertyFlags kCached = VK_MEMORY_PROPERTY_HOST_CACHED_BIT;

uint64_t round_up(uint64_t value, uint64_t multiple) {
    return (value + multiple - 1) / multiple * multiple;
}

const char* kind_name(MemoryKind kind) {
    return kind == MemoryKind::DeviceLocal ? "device-local" : "host-visible";
}

// The memory types a buffer of the backend's usage may live in.
uint32_t buffer_type_bits(VkDevice device) {
    VkBufferCreateInfo info{};
    info.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO;
    info.size = kAllocationAlignment;
    info.usage = kBufferUsage;
    info.sharingMode = VK_SHARING_MODE_EXCLUSIVE;
    VkBuffer probe = VK_NULL_HANDLE;
    check(vkCreateBuffer(device, &info, nullptr, &probe), "vkCreateBuffer",
          "probing the memory types of storage buffers");
    VkMemoryRequirements requirements;
    vkGetBufferMemoryRequirements(device, probe, &requirements);
    vkDestroyBuffer(device, probe, nullptr);
    return requirements.memoryTypeBits;
}

}  // namespace

MemoryAllocator::MemoryAllocator(VkPhysicalDevice physical_device, VkDevice device,
                                 std::string device_name, bool unified, bool map_device_local)
    : device_(device), device_name_(std::move(device_name)), map_device_local_(map_device_local) {
    vkGetPhysicalDeviceMemoryProperties(physical_device, &properties_);
    heap_used_.assign(properties_.memoryHeapCount, 0);

    VkPhysicalDeviceMaintenance3Properties maintenance3{};
    maintenance3.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MAINTENANCE_3_PROPERTIES;
    VkPhysicalDeviceProperties2 properties2{};
    properties2.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2;
    properties2.pNext = &maintenance3;
    vkGetPhysicalDeviceProperties2(physical_device, &properties2);
    max_allocation_bytes_ = maintenance3.maxMemoryAllocationSize;

    const uint32_t type_bits = buffer_type_bits(device);
    // Memory types with all of `required` and none of `excluded`, in index order.
    const auto types_with = [&](VkMemoryPropertyFlags required, VkMemoryPropertyFlags excluded) {
        std::vector<uint32_t> found;
        for (uint32_t i = 0; i < properties_.memoryTypeCount; ++i) {
            const VkMemoryPropertyFlags flags = properties_.memoryTypes[i].propertyFlags;
            if ((type_bits & (1u << i)) == 0) continue;
            if ((flags & required) == required && (flags & excluded) == 0) found.push_back(i);
        }
        return found;
    };
    const auto append = [](std::vector<uint32_t>& list, const std::vector<uint32_t>& more) {
        for (uint32_t type : more) {
            if (std::find(list.begin(), list.end(), type) == list.end()) list.push_back(type);
        }
    };
    // Device-local: where the device shares memory with the host, mapped memory first, so that
    // transfers are plain copies; on a discrete GPU, memory the host cannot see (the fastest),
    // then whatever is device-local.
    if (unified) append(device_local_.candidates, types_with(kDeviceLocal | kMappable, 0));
    append(device_local_.candidates, types_with(kDeviceLocal, kMappable));
    append(device_local_.candidates, types_with(kDeviceLocal, 0));
    append(device_local_.candidates, types_with(kMappable, 0));
    // Host-visible: coherent and cached (the host reads logits back), then coherent.
    append(host_visible_.candidates, types_with(kMappable | kCached, 0));
    append(host_visible_.candidates, types_with(kMappable, 0));
    if (device_local_.candidates.empty() || host_visible_.candidates.empty()) {
        throw Error("vulkan: " + device_name_ +
                    " has no memory type for storage buffers that is device-local and one that is "
                    "host-visible and coherent");
    }

    const uint64_t heap = device_heap_bytes();
    block_bytes_ = std::max<uint64_t>(kAllocationAlignment * 16,
                                      std::min<uint64_t>(kDefaultBlockBytes, heap / 16));
    block_bytes_ = round_up(block_bytes_, kAllocationAlignment);
}

MemoryAllocator::~MemoryAllocator() {
    for (auto& block : blocks_) destroy_block(block.get());
}

uint32_t MemoryAllocator::heap_of(MemoryKind kind) const {
    const TypeChoice& choice = kind == MemoryKind::DeviceLocal ? device_local_ : host_visible_;
    return properties_.memoryTypes[choice.candidates.front()].heapIndex;
}

uint64_t MemoryAllocator::device_heap_bytes() const {
    return properties_.memoryHeaps[heap_of(MemoryKind::DeviceLocal)].size;
}

bool MemoryAllocator::host_visible(MemoryKind kind) const {
    if (kind == MemoryKind::DeviceLocal && !map_device_local_) return false;
    const TypeChoice& choice = kind == MemoryKind::DeviceLocal ? device_local_ : host_visible_;
    return (properties_.memoryTypes[choice.candidates.front()].propertyFlags & kMappable) ==
           kMappable;
}

void MemoryAllocator::out_of_memory(uint64_t size, MemoryKind kind, const std::string& why) const {
    const uint32_t heap = heap_of(kind);
    const uint64_t heap_bytes = properties_.memoryHeaps[heap].size;
    const uint64_t available = heap_bytes - std::min(heap_bytes, heap_used_[heap]);
    throw Error("vulkan: cannot allocate " + std::to_string(size) + " bytes (" +
                cpu::format_bytes(size) + ") of " + kind_name(kind) + " memory on " + device_name_ +
                ": " + cpu::format_bytes(available) + " available of the " +
                cpu::format_bytes(heap_bytes) + " heap, at most " +
                cpu::format_bytes(max_allocation_bytes_) + " in one allocation" +
                (why.empty() ? "" : " (" + why + ")"));
}

MemoryBlock* MemoryAllocator::new_block(uint64_t size, MemoryKind kind, bool dedicated,
                                        uint64_t requested) {
    const TypeChoice& choice = kind == MemoryKind::DeviceLocal ? device_local_ : host_visible_;
    if (size > max_allocation_bytes_) out_of_memory(requested, kind, "larger than one allocation");

    auto block = std::make_unique<MemoryBlock>();
    block->size = size;
    block->dedicated = dedicated;
    VkBufferCreateInfo buffer_info{};
    buffer_info.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO;
    buffer_info.size = size;
    buffer_info.usage = kBufferUsage;
    buffer_info.sharingMode = VK_SHARING_MODE_EXCLUSIVE;
    const VkResult created = vkCreateBuffer(device_, &buffer_info, nullptr, &block->buffer);
    if (created == VK_ERROR_OUT_OF_DEVICE_MEMORY || created == VK_ERROR_OUT_OF_HOST_MEMORY) {
        out_of_memory(requested, kind, result_name(created));
    }
    check(created, "vkCreateBuffer", "creating a buffer of " + std::to_string(size) + " bytes");
    VkMemoryRequirements requirements;
    vkGetBufferMemoryRequirements(device_, block->buffer, &requirements);

    VkMemoryAllocateFlagsInfo flags{};
    flags.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_FLAGS_INFO;
    flags.flags = VK_MEMORY_ALLOCATE_DEVICE_ADDRESS_BIT;
    VkMemoryAllocateInfo allocate_info{};
    allocate_info.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO;
    allocate_info.pNext = &flags;
    allocate_info.allocationSize = requirements.size;

    // The first candidate type whose heap has room and whose allocation succeeds.
    VkResult result = VK_ERROR_OUT_OF_DEVICE_MEMORY;
    for (uint32_t type : choice.candidates) {
        if ((requirements.memoryTypeBits & (1u << type)) == 0) continue;
        const uint32_t heap = properties_.memoryTypes[type].heapIndex;
        if (heap_used_[heap] + requirements.size > properties_.memoryHeaps[heap].size) continue;
        allocate_info.memoryTypeIndex = type;
        result = vkAllocateMemory(device_, &allocate_info, nullptr, &block->memory);
        if (result == VK_SUCCESS) {
            block->type_index = type;
            break;
        }
        if (result != VK_ERROR_OUT_OF_DEVICE_MEMORY && result != VK_ERROR_OUT_OF_HOST_MEMORY) {
            break;
        }
    }
    if (result != VK_SUCCESS) {
        vkDestroyBuffer(device_, block->buffer, nullptr);
        if (result == VK_ERROR_OUT_OF_DEVICE_MEMORY || result == VK_ERROR_OUT_OF_HOST_MEMORY) {
            out_of_memory(requested, kind, "");
        }
        check(result, "vkAllocateMemory", "allocating " + std::to_string(size) + " bytes");
    }

    const auto fail = [&](VkResult failed, const char* call) {
        vkDestroyBuffer(device_, block->buffer, nullptr);
        vkFreeMemory(device_, block->memory, nullptr);
        check(failed, call, "setting up a block of " + std::to_string(size) + " bytes");
    };
    if (const VkResult bound = vkBindBufferMemory(device_, block->buffer, block->memory, 0);
        bound != VK_SUCCESS) {
        fail(bound, "vkBindBufferMemory");
    }
    const VkMemoryPropertyFlags type_flags =
        properties_.memoryTypes[block->type_index].propertyFlags;
    const bool map = kind == MemoryKind::HostVisible || map_device_local_;
    if (map && (type_flags & kMappable) == kMappable) {
        void* mapped = nullptr;
        if (const VkResult mapping =
                vkMapMemory(device_, block->memory, 0, VK_WHOLE_SIZE, 0, &mapped);
            mapping != VK_SUCCESS) {
            fail(mapping, "vkMapMemory");
        }
        block->mapped = static_cast<uint8_t*>(mapped);
    }
    VkBufferDeviceAddressInfo address_info{};
    address_info.sType = VK_STRUCTURE_TYPE_BUFFER_DEVICE_ADDRESS_INFO;
    address_info.buffer = block->buffer;
    block->address = vkGetBufferDeviceAddress(device_, &address_info);
    block->free_ranges.emplace(0, size);
    heap_used_[properties_.memoryTypes[block->type_index].heapIndex] += requirements.size;
    blocks_.push_back(std::move(block));
    return blocks_.back().get();
}

void MemoryAllocator::destroy_block(MemoryBlock* block) noexcept {
    if (block->mapped != nullptr) vkUnmapMemory(device_, block->memory);
    vkDestroyBuffer(device_, block->buffer, nullptr);
    vkFreeMemory(device_, block->memory, nullptr);
}

bool MemoryAllocator::take_range(MemoryBlock& block, uint64_t bytes, uint64_t& offset) {
    for (auto it = block.free_ranges.begin(); it != block.free_ranges.end(); ++it) {
        if (it->second < bytes) continue;
        offset = it->first;
        const uint64_t rest = it->second - bytes;
        block.free_ranges.erase(it);
        if (rest > 0) block.free_ranges.emplace(offset + bytes, rest);
        block.used += bytes;
        return true;
    }
    return false;
}

Allocation MemoryAllocator::allocate(uint64_t size, MemoryKind kind) {
    constexpr uint64_t kLargest = std::numeric_limits<uint64_t>::max() / 2;
    if (size > kLargest) out_of_memory(size, kind, "larger than any heap");
    const uint64_t reserved = round_up(size + kAllocationGuard, kAllocationAlignment);

    const std::lock_guard lock(mutex_);
    const TypeChoice& choice = kind == MemoryKind::DeviceLocal ? device_local_ : host_visible_;
    Allocation allocation;
    allocation.reserved = reserved;
    if (reserved > block_bytes_ / 4) {
        allocation.block = new_block(reserved, kind, true, size);
        take_range(*allocation.block, reserved, allocation.offset);
        return allocation;
    }
    // A shared block of the kind's memory types with room, else a new one.
    for (auto& block : blocks_) {
        if (block->dedicated) continue;
        if (std::find(choice.candidates.begin(), choice.candidates.end(), block->type_index) ==
            choice.candidates.end()) {
            continue;
        }
        if (kind == MemoryKind::HostVisible && block->mapped == nullptr) continue;
        if (kind == MemoryKind::DeviceLocal && !map_device_local_ && block->mapped != nullptr) {
            continue;
        }
        if (take_range(*block, reserved, allocation.offset)) {
            allocation.block = block.get();
            return allocation;
        }
    }
    allocation.block = new_block(block_bytes_, kind, false, size);
    take_range(*allocation.block, reserved, allocation.offset);
    return allocation;
}

void MemoryAllocator::release(const Allocation& allocation) noexcept {
    if (allocation.block == nullptr) return;
    const std::lock_guard lock(mutex_);
    MemoryBlock& block = *allocation.block;
    block.used -= allocation.reserved;
    // Back into the free list, merged with the free neighbours.
    uint64_t offset = allocation.offset;
    uint64_t bytes = allocation.reserved;
    auto next = block.free_ranges.lower_bound(offset);
    if (next != block.free_ranges.end() && offset + bytes == next->first) {
        bytes += next->second;
        next = block.free_ranges.erase(next);
    }
    if (next != block.free_ranges.begin()) {
        auto previous = std::prev(next);
        if (previous->first + previous->second == offset) {
            offset = previous->first;
            bytes += previous->second;
            block.free_ranges.erase(previous);
        }
    }
    block.free_ranges.emplace(offset, bytes);
    if (block.used != 0) return;

    // An empty block goes back to the driver, except one shared block per memory type kept for
    // the next allocations.
    const bool keep =
        !block.dedicated && std::count_if(blocks_.begin(), blocks_.end(), [&](const auto& other) {
                                return !other->dedicated && other->used == 0 &&
                                       other->type_index == block.type_index;
                            }) == 1;
    if (keep) return;
    for (auto it = blocks_.begin(); it != blocks_.end(); ++it) {
        if (it->get() != &block) continue;
        VkMemoryRequirements requirements;
        vkGetBufferMemoryRequirements(device_, block.buffer, &requirements);
        heap_used_[properties_.memoryTypes[block.type_index].heapIndex] -= requirements.size;
        destroy_block(&block);
        blocks_.erase(it);
        return;
    }
}

}  // namespace tessera::backend::vulkan
