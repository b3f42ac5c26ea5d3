#include "backends/vulkan/vulkan_device.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <limits>

#include "backends/vulkan/ops/ops.h"
#include "backends/vulkan/vulkan_backend.h"
#include "backends/vulkan/vulkan_buffer.h"
#include "backends/vulkan/vulkan_executable.h"
#include "backends/vulkan/vulkan_queue.h"
#include "formats/error.h"

namespace tessera::backend::vulkan {

namespace {

// Transfers that cannot map the memory go through a staging buffer of this size, in slices.
constexpr uint64_t kStagingBytes = uint64_t{16} << 20;

DeviceKind kind_of(VkPhysicalDeviceType type) {
    switch (type) {
        case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU:
            return DeviceKind::DiscreteGpu;
        case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU:
            return DeviceKind::IntegratedGpu;
        case VK_PHYSICAL_DEVICE_TYPE_CPU:
            return DeviceKind::Cpu;
        default:
            return DeviceKind::VirtualGpu;
    }
}

bool shares_host_memory(VkPhysicalDeviceType type) {
    return type == VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU || type == VK_PHYSICAL_DEVICE_TYPE_CPU;
}

uint64_t device_local_heap_bytes(VkPhysicalDevice device) {
    VkPhysicalDeviceMemoryProperties memory;
    vkGetPhysicalDeviceMemoryProperties(device, &memory);
    uint64_t largest = 0;
    for (uint32_t i = 0; i < memory.memoryHeapCount; ++i) {
        if ((memory.memoryHeaps[i].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT) != 0) {
            largest = std::max<uint64_t>(largest, memory.memoryHeaps[i].size);
        }
    }
    return largest;
}

DeviceInfo info_of(VkPhysicalDevice device) {
    VkPhysicalDeviceProperties properties;
    vkGetPhysicalDeviceProperties(device, &properties);
    DeviceInfo info;
    info.backend = "vulkan";
    info.name = properties.deviceName;
    info.kind = kind_of(properties.deviceType);
    info.memory_bytes = device_local_heap_bytes(device);
    info.unified_memory = shares_host_memory(properties.deviceType);
    return info;
}

bool has_device_extension(VkPhysicalDevice device, const char* name) {
    uint32_t count = 0;
    if (vkEnumerateDeviceExtensionProperties(device, nullptr, &count, nullptr) != VK_SUCCESS) {
        return false;
    }
    std::vector<VkExtensionProperties> extensions(count);
    if (vkEnumerateDeviceExtensionProperties(device, nullptr, &count, extensions.data()) !=
        VK_SUCCESS) {
        return false;
    }
    for (const VkExtensionProperties& extension : extensions) {
        if (std::strcmp(extension.extensionName, name) == 0) return true;
    }
    return false;
}

// Workgroup sizes for the device: 64 threads or a whole subgroup if that is larger; MUL_MAT
// rows split across a subgroup on a GPU, whole rows per thread on a CPU device (where a
// workgroup runs as SIMD lanes and splitting a row only adds a reduction).
DeviceTuning tuning_of(VkPhysicalDevice device) {
    VkPhysicalDeviceSubgroupProperties subgroup{};
    subgroup.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES;
    VkPhysicalDeviceProperties2 properties{};
    properties.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2;
    properties.pNext = &subgroup;
    vkGetPhysicalDeviceProperties2(device, &properties);
    const VkPhysicalDeviceLimits& limits = properties.properties.limits;

    DeviceTuning tuning;
    tuning.subgroup_size = std::max<uint32_t>(1, subgroup.subgroupSize);
    tuning.workgroup_size = std::clamp<uint32_t>(
        tuning.subgroup_size, 64, std::min<uint32_t>(256, limits.maxComputeWorkGroupSize[0]));
    const uint32_t most_threads =
        std::min({1024u, limits.maxComputeWorkGroupSize[0], limits.maxComputeWorkGroupInvocations});
    tuning.large_workgroup_size = std::max(tuning.workgroup_size, std::bit_floor(most_threads));
    tuning.max_group_count =
        std::min({limits.maxComputeWorkGroupCount[0], limits.maxComputeWorkGroupCount[1],
                  limits.maxComputeWorkGroupCount[2]});
    tuning.shared_memory_bytes = limits.maxComputeSharedMemorySize;
    tuning.loops_limited = properties.properties.deviceType == VK_PHYSICAL_DEVICE_TYPE_CPU;
    if (properties.properties.deviceType == VK_PHYSICAL_DEVICE_TYPE_CPU) {
        // Lanes fetch memory one by one there: larger tiles save loads.
        tuning.mul_mat_threads_per_row = 1;
        tuning.mul_mat_rows = 8;
        tuning.mul_mat_columns = 8;
    } else {
        tuning.mul_mat_threads_per_row = std::min<uint32_t>(32, tuning.subgroup_size);
        while (tuning.workgroup_size % tuning.mul_mat_threads_per_row != 0) {
            tuning.mul_mat_threads_per_row /= 2;
        }
    }
    // shaders/mul_mat.comp keeps a float per thread and tile element in shared memory.
    while (tuning.mul_mat_columns > 1 &&
           uint64_t{tuning.workgroup_size} * tuning.mul_mat_rows * tuning.mul_mat_columns * 4 >
               tuning.shared_memory_bytes) {
        tuning.mul_mat_columns /= 2;
    }
    return tuning;
}

}  // namespace

void check_range(uint64_t buffer_size, uint64_t offset, uint64_t size, const char* what) {
    if (offset > buffer_size || size > buffer_size - offset) {
        throw Error(std::string("vulkan: ") + what + " of bytes " + std::to_string(offset) + ".." +
                    std::to_string(offset + size) + " is outside the buffer of " +
                    std::to_string(buffer_size) + " bytes");
    }
}

VulkanDevice::VulkanDevice(std::shared_ptr<VulkanInstance> instance,
                           VkPhysicalDevice physical_device)
    : instance_(std::move(instance)),
      physical_device_(physical_device),
      info_(info_of(physical_device)),
      tuning_(tuning_of(physical_device)) {}

std::shared_ptr<VulkanDevice> VulkanDevice::open(std::shared_ptr<VulkanInstance> instance,
                                                 VkPhysicalDevice physical_device,
                                                 const DeviceOptions& options) {
    std::shared_ptr<VulkanDevice> device(new VulkanDevice(std::move(instance), physical_device));
    const std::string doing = "opening " + device->info_.name;

    uint32_t n_families = 0;
    vkGetPhysicalDeviceQueueFamilyProperties(physical_device, &n_families, nullptr);
    std::vector<VkQueueFamilyProperties> families(n_families);
    vkGetPhysicalDeviceQueueFamilyProperties(physical_device, &n_families, families.data());
    // A compute family; one without graphics first (a GPU's dedicated compute queues).
    int chosen = -1;
    for (uint32_t i = 0; i < n_families; ++i) {
        const VkQueueFlags flags = families[i].queueFlags;
        if ((flags & VK_QUEUE_COMPUTE_BIT) == 0 || families[i].queueCount == 0) continue;
        if (chosen < 0 || (flags & VK_QUEUE_GRAPHICS_BIT) == 0) chosen = static_cast<int>(i);
        if ((flags & VK_QUEUE_GRAPHICS_BIT) == 0) break;
    }
    if (chosen < 0) throw Error("vulkan: " + device->info_.name + " has no compute queue");
    device->queue_family_ = static_cast<uint32_t>(chosen);

    const float priority = 1.0f;
    VkDeviceQueueCreateInfo queue_info{};
    queue_info.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO;
    queue_info.queueFamilyIndex = device->queue_family_;
    queue_info.queueCount = 1;
    queue_info.pQueuePriorities = &priority;

    // Buffer device addresses are required (list_devices() leaves out devices without them).
    // Optional features are enabled where the device has them: 64-bit integers for MUL_MAT's
    // wide variants, integer dot products (VK_KHR_shader_integer_dot_product) for its dot
    // variants.
    const bool has_dot_extension =
        has_device_extension(physical_device, VK_KHR_SHADER_INTEGER_DOT_PRODUCT_EXTENSION_NAME);
    VkPhysicalDeviceShaderIntegerDotProductFeaturesKHR dot_available{};
    dot_available.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_INTEGER_DOT_PRODUCT_FEATURES_KHR;
    VkPhysicalDeviceFeatures2 available{};
    available.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2;
    if (has_dot_extension) available.pNext = &dot_available;
    vkGetPhysicalDeviceFeatures2(physical_device, &available);
    DeviceTuning& tuning = device->tuning_;
    tuning.wide_loads = options.use_optional_features && available.features.shaderInt64 == VK_TRUE;
    tuning.integer_dot = options.use_optional_features && has_dot_extension &&
                         dot_available.shaderIntegerDotProduct == VK_TRUE;

    VkPhysicalDeviceShaderIntegerDotProductFeaturesKHR dot_enabled{};
    dot_enabled.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_INTEGER_DOT_PRODUCT_FEATURES_KHR;
    dot_enabled.shaderIntegerDotProduct = VK_TRUE;
    VkPhysicalDeviceVulkan12Features features12{};
    features12.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES;
    features12.bufferDeviceAddress = VK_TRUE;
    if (tuning.integer_dot) features12.pNext = &dot_enabled;
    VkPhysicalDeviceFeatures2 features{};
    features.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2;
    features.features.shaderInt64 = tuning.wide_loads ? VK_TRUE : VK_FALSE;
    features.pNext = &features12;
    std::vector<const char*> extensions;
    if (tuning.integer_dot) extensions.push_back(VK_KHR_SHADER_INTEGER_DOT_PRODUCT_EXTENSION_NAME);

    VkDeviceCreateInfo info{};
    info.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO;
    info.pNext = &features;
    info.queueCreateInfoCount = 1;
    info.pQueueCreateInfos = &queue_info;
    info.enabledExtensionCount = static_cast<uint32_t>(extensions.size());
    info.ppEnabledExtensionNames = extensions.data();
    check(vkCreateDevice(physical_device, &info, nullptr, &device->device_), "vkCreateDevice",
          doing);
    vkGetDeviceQueue(device->device_, device->queue_family_, 0, &device->queue_);

    device->memory_ = std::make_unique<MemoryAllocator>(
        physical_device, device->device_, device->info_.name, device->info_.unified_memory,
        options.map_device_local_memory);
    device->pipelines_ = std::make_unique<PipelineCache>(device->device_);

    VkCommandPoolCreateInfo pool_info{};
    pool_info.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO;
    pool_info.flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT;
    pool_info.queueFamilyIndex = device->queue_family_;
    check(vkCreateCommandPool(device->device_, &pool_info, nullptr, &device->transfer_pool_),
          "vkCreateCommandPool", doing);
    VkCommandBufferAllocateInfo command_info{};
    command_info.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO;
    command_info.commandPool = device->transfer_pool_;
    command_info.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
    command_info.commandBufferCount = 1;
    check(vkAllocateCommandBuffers(device->device_, &command_info, &device->transfer_commands_),
          "vkAllocateCommandBuffers", doing);
    VkFenceCreateInfo fence_info{};
    fence_info.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO;
    check(vkCreateFence(device->device_, &fence_info, nullptr, &device->transfer_fence_),
          "vkCreateFence", doing);
    device->check_validation(doing);
    return device;
}

VulkanDevice::~VulkanDevice() {
    if (device_ == VK_NULL_HANDLE) return;
    vkDeviceWaitIdle(device_);
    if (memory_ && staging_.block != nullptr) memory_->release(staging_);
    if (transfer_fence_ != VK_NULL_HANDLE) vkDestroyFence(device_, transfer_fence_, nullptr);
    if (transfer_pool_ != VK_NULL_HANDLE) vkDestroyCommandPool(device_, transfer_pool_, nullptr);
    pipelines_.reset();
    memory_.reset();
    vkDestroyDevice(device_, nullptr);
}

bool VulkanDevice::supports(const Graph& graph, const Node& node) const {
    return !node_problem(graph, node, tuning_).has_value();
}

std::unique_ptr<Buffer> VulkanDevice::allocate(uint64_t size, MemoryKind kind) {
    const Allocation allocation = memory_->allocate(size, kind);
    return std::make_unique<VulkanBuffer>(shared_from_this(), allocation, size, kind);
}

std::unique_ptr<Buffer> VulkanDevice::wrap_host(const void* /*data*/, uint64_t /*size*/) {
    return nullptr;
}

VulkanBuffer& VulkanDevice::own_buffer(Buffer& buffer, const char* role) const {
    auto* own = dynamic_cast<VulkanBuffer*>(&buffer);
    if (own == nullptr || own->device() != this) {
        throw Error(std::string("vulkan: the ") + role + " buffer belongs to another device");
    }
    return *own;
}

void VulkanDevice::submit(std::span<const VkCommandBuffer> commands, VkFence fence,
                          const std::string& doing) {
    VkSubmitInfo info{};
    info.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO;
    info.commandBufferCount = static_cast<uint32_t>(commands.size());
    info.pCommandBuffers = commands.data();
    const std::lock_guard lock(queue_mutex_);
    check(vkQueueSubmit(queue_, 1, &info, fence), "vkQueueSubmit", doing);
}

void VulkanDevice::check_validation(const std::string& doing) {
    const std::vector<std::string> messages = instance_->take_messages();
    if (messages.empty()) return;
    std::string text = "vulkan: the validation layer reported " + std::to_string(messages.size()) +
                       " message(s) by the end of " + doing;
    for (const std::string& message : messages) text += "\n  " + message;
    throw Error(text);
}

Allocation& VulkanDevice::staging() {
    if (staging_.block == nullptr)
        staging_ = memory_->allocate(kStagingBytes, MemoryKind::HostVisible);
    return staging_;
}

template <typename Record>
void VulkanDevice::run_transfer(const std::string& doing, Record record) {
    check(vkResetCommandBuffer(transfer_commands_, 0), "vkResetCommandBuffer", doing);
    VkCommandBufferBeginInfo begin{};
    begin.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO;
    begin.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
    check(vkBeginCommandBuffer(transfer_commands_, &begin), "vkBeginCommandBuffer", doing);
    // After everything submitted before (a queue's run may still be writing), and visible to
    // the host afterwards.
    VkMemoryBarrier before{};
    before.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER;
    before.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
    before.dstAccessMask = VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
    vkCmdPipelineBarrier(transfer_commands_,
                         VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
                         VK_PIPELINE_STAGE_TRANSFER_BIT, 0, 1, &before, 0, nullptr, 0, nullptr);
    record(transfer_commands_);
    VkMemoryBarrier after{};
    after.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER;
    after.srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT;
    after.dstAccessMask =
        VK_ACCESS_HOST_READ_BIT | VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT;
    vkCmdPipelineBarrier(transfer_commands_, VK_PIPELINE_STAGE_TRANSFER_BIT,
                         VK_PIPELINE_STAGE_HOST_BIT | VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, 0, 1,
                         &after, 0, nullptr, 0, nullptr);
    check(vkEndCommandBuffer(transfer_commands_), "vkEndCommandBuffer", doing);
    check(vkResetFences(device_, 1, &transfer_fence_), "vkResetFences", doing);
    const VkCommandBuffer commands[] = {transfer_commands_};
    submit(commands, transfer_fence_, doing);
    check(vkWaitForFences(device_, 1, &transfer_fence_, VK_TRUE,
                          std::numeric_limits<uint64_t>::max()),
          "vkWaitForFences", doing);
}

void VulkanDevice::upload(Buffer& dst, uint64_t offset, std::span<const uint8_t> bytes) {
    VulkanBuffer& target = own_buffer(dst, "upload's destination");
    check_range(target.size(), offset, bytes.size(), "upload");
    if (bytes.empty()) return;
    if (auto* host = static_cast<uint8_t*>(target.host_data())) {
        std::memcpy(host + offset, bytes.data(), bytes.size());
        return;
    }
    const std::lock_guard lock(transfer_mutex_);
    Allocation& stage = staging();
    for (uint64_t done = 0; done < bytes.size(); done += kStagingBytes) {
        const uint64_t n = std::min<uint64_t>(kStagingBytes, bytes.size() - done);
        std::memcpy(stage.host(), bytes.data() + done, n);
        run_transfer(
            "uploading " + std::to_string(bytes.size()) + " bytes", [&](VkCommandBuffer c) {
                const VkBufferCopy region{stage.offset, target.vk_offset() + offset + done, n};
                vkCmdCopyBuffer(c, stage.buffer(), target.vk_buffer(), 1, &region);
            });
    }
    check_validation("an upload");
}

void VulkanDevice::download(Buffer& src, uint64_t offset, std::span<uint8_t> bytes) {
    VulkanBuffer& source = own_buffer(src, "download's source");
    check_range(source.size(), offset, bytes.size(), "download");
    if (bytes.empty()) return;
    if (const auto* host = static_cast<const uint8_t*>(source.host_data())) {
        std::memcpy(bytes.data(), host + offset, bytes.size());
        return;
    }
    const std::lock_guard lock(transfer_mutex_);
    Allocation& stage = staging();
    for (uint64_t done = 0; done < bytes.size(); done += kStagingBytes) {
        const uint64_t n = std::min<uint64_t>(kStagingBytes, bytes.size() - done);
        run_transfer(
            "downloading " + std::to_string(bytes.size()) + " bytes", [&](VkCommandBuffer c) {
                const VkBufferCopy region{source.vk_offset() + offset + done, stage.offset, n};
                vkCmdCopyBuffer(c, source.vk_buffer(), stage.buffer(), 1, &region);
            });
        std::memcpy(bytes.data() + done, stage.host(), n);
    }
    check_validation("a download");
}

void VulkanDevice::copy(Buffer& src, uint64_t src_offset, Buffer& dst, uint64_t dst_offset,
                        uint64_t size) {
    VulkanBuffer& source = own_buffer(src, "copy's source");
    VulkanBuffer& target = own_buffer(dst, "copy's destination");
    check_range(source.size(), src_offset, size, "copy source");
    check_range(target.size(), dst_offset, size, "copy destination");
    if (size == 0) return;
    auto* source_host = static_cast<uint8_t*>(source.host_data());
    auto* target_host = static_cast<uint8_t*>(target.host_data());
    if (source_host != nullptr && target_host != nullptr) {
        // memmove: a copy within one buffer may overlap.
        std::memmove(target_host + dst_offset, source_host + src_offset, size);
        return;
    }
    const uint64_t from = source.vk_offset() + src_offset;
    const uint64_t to = target.vk_offset() + dst_offset;
    const bool overlapping =
        source.vk_buffer() == target.vk_buffer() && from < to + size && to < from + size;
    const std::lock_guard lock(transfer_mutex_);
    const std::string doing = "copying " + std::to_string(size) + " bytes";
    if (!overlapping) {
        run_transfer(doing, [&](VkCommandBuffer c) {
            const VkBufferCopy region{from, to, size};
            vkCmdCopyBuffer(c, source.vk_buffer(), target.vk_buffer(), 1, &region);
        });
    } else {
        // Vulkan copies may not overlap: slices go through the staging buffer, from the end
        // when moving up so that no slice overwrites source bytes not yet copied.
        Allocation& stage = staging();
        const uint64_t n_slices = (size + kStagingBytes - 1) / kStagingBytes;
        for (uint64_t i = 0; i < n_slices; ++i) {
            const uint64_t slice = to > from ? n_slices - 1 - i : i;
            const uint64_t begin = slice * kStagingBytes;
            const uint64_t n = std::min<uint64_t>(kStagingBytes, size - begin);
            run_transfer(doing, [&](VkCommandBuffer c) {
                const VkBufferCopy in{from + begin, stage.offset, n};
                vkCmdCopyBuffer(c, source.vk_buffer(), stage.buffer(), 1, &in);
                VkMemoryBarrier barrier{};
                barrier.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER;
                barrier.srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT;
                barrier.dstAccessMask = VK_ACCESS_TRANSFER_READ_BIT;
                vkCmdPipelineBarrier(c, VK_PIPELINE_STAGE_TRANSFER_BIT,
                                     VK_PIPELINE_STAGE_TRANSFER_BIT, 0, 1, &barrier, 0, nullptr, 0,
                                     nullptr);
                const VkBufferCopy out{stage.offset, to + begin, n};
                vkCmdCopyBuffer(c, stage.buffer(), target.vk_buffer(), 1, &out);
            });
        }
    }
    check_validation("a copy");
}

std::unique_ptr<Executable> VulkanDevice::compile(const Graph& graph,
                                                  std::span<Buffer* const> buffers) {
    auto executable = std::make_unique<VulkanExecutable>(shared_from_this(), graph, buffers);
    check_validation("compiling a graph");
    return executable;
}

std::unique_ptr<Queue> VulkanDevice::create_queue(const QueueOptions& /*options*/) {
    return std::make_unique<VulkanQueue>(shared_from_this());
}

std::vector<DeviceInfo> list_devices() {
    std::vector<DeviceInfo> devices;
    try {
        const auto instance = VulkanInstance::create(false);
        for (VkPhysicalDevice device : instance->usable_devices()) {
            devices.push_back(info_of(device));
        }
    } catch (const Error&) {
        // No Vulkan driver (or loader): the backend contributes no devices.
        return {};
    }
    return devices;
}

std::shared_ptr<Device> open_device(int index) {
    return open_device(index, DeviceOptions{});
}

std::shared_ptr<Device> open_device(int index, const DeviceOptions& options) {
    auto instance = VulkanInstance::create(validation_requested());
    const std::vector<VkPhysicalDevice> devices = instance->usable_devices();
    if (index < 0 || static_cast<size_t>(index) >= devices.size()) {
        std::string names;
        for (VkPhysicalDevice device : devices) {
            names += (names.empty() ? "" : ", ") + info_of(device).name;
        }
        throw Error("backend 'vulkan' has no device " + std::to_string(index) + " (it has " +
                    std::to_string(devices.size()) + (names.empty() ? "" : ": " + names) + ")");
    }
    return VulkanDevice::open(std::move(instance), devices[static_cast<size_t>(index)], options);
}

std::vector<std::string> take_validation_messages(Device& device) {
    auto* vulkan_device = dynamic_cast<VulkanDevice*>(&device);
    if (vulkan_device == nullptr) return {};
    return vulkan_device->take_validation_messages();
}

}  // namespace tessera::backend::vulkan
