// A Vulkan device: a VkDevice with one compute queue, its memory (vulkan_memory.h), its pipelines
// (vulkan_pipelines.h), blocking transfers through a staging buffer where memory is not mapped,
// and the per-device choices of workgroup sizes (DeviceTuning), passed to the shaders as
// specialization constants.
//
// The device is shared: buffers, executables and queues keep it alive. Its one VkQueue serves
// every Queue made from it and its own transfers, each submission under a lock.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "backends/vulkan/vulkan_backend.h"
#include "backends/vulkan/vulkan_instance.h"
#include "backends/vulkan/vulkan_memory.h"
#include "backends/vulkan/vulkan_pipelines.h"

namespace tessera::backend::vulkan {

class VulkanBuffer;

// How the shaders are sized on this device.
struct DeviceTuning {
    uint32_t subgroup_size = 32;
    // Threads of a workgroup of the element-wise and row-wise shaders.
    uint32_t workgroup_size = 64;
    // A CPU implementation (lavapipe): it ends every loop of a shader invocation once all its
    // loops together have run 65535 iterations (llvmpipe's LP_MAX_TGSI_LOOP_ITERATIONS), so
    // kernels whose loops could run longer are refused there.
    bool loops_limited = false;
    // The largest power-of-two workgroup up to 1024 threads (DRAFT_VERIFY's, which scans whole
    // vocabularies in one workgroup: the more threads, the shorter each one's loops).
    uint32_t large_workgroup_size = 64;
    // MUL_MAT: threads that share one weight row (1 on a CPU device, where each thread does a
    // whole row; the subgroup on a GPU), and each thread's tile: weight rows, and activation
    // columns when m > 1.
    uint32_t mul_mat_threads_per_row = 1;
    uint32_t mul_mat_rows = 1;
    uint32_t mul_mat_columns = 8;
    uint32_t max_group_count = 65535;  // per grid dimension
    uint32_t shared_memory_bytes = 16384;
    // The device has 64-bit integers in shaders (shaderInt64), enabled: MUL_MAT runs its
    // variants that read memory 8 bytes at a time.
    bool wide_loads = false;
    // The device has integer dot products (VK_KHR_shader_integer_dot_product), enabled: MUL_MAT
    // runs its variants that take the dot of four packed bytes in one instruction.
    bool integer_dot = false;
};

class VulkanDevice final : public Device, public std::enable_shared_from_this<VulkanDevice> {
  public:
    static std::shared_ptr<VulkanDevice> open(std::shared_ptr<VulkanInstance> instance,
                                              VkPhysicalDevice physical_device,
                                              const DeviceOptions& options);
    ~VulkanDevice() override;
    VulkanDevice(const VulkanDevice&) = delete;
    VulkanDevice& operator=(const VulkanDevice&) = delete;

    const DeviceInfo& info() const override { return info_; }
    bool supports(const Graph& graph, const Node& node) const override;

    std::unique_ptr<Buffer> allocate(uint64_t size, MemoryKind kind) override;
    // nullptr: the runtime uploads weights once into device memory.
    std::unique_ptr<Buffer> wrap_host(const void* data, uint64_t size) override;
    void upload(Buffer& dst, uint64_t offset, std::span<const uint8_t> bytes) override;
    void download(Buffer& src, uint64_t offset, std::span<uint8_t> bytes) override;
    void copy(Buffer& src, uint64_t src_offset, Buffer& dst, uint64_t dst_offset,
              uint64_t size) override;

    std::unique_ptr<Executable> compile(const Graph& graph,
                                        std::span<Buffer* const> buffers) override;
    std::unique_ptr<Queue> create_queue(const QueueOptions& options) override;

    // For the backend's own parts.
    VkDevice handle() const { return device_; }
    uint32_t queue_family() const { return queue_family_; }
    const DeviceTuning& tuning() const { return tuning_; }
    MemoryAllocator& memory() { return *memory_; }
    PipelineCache& pipelines() { return *pipelines_; }
    // vkQueueSubmit of these command buffers, in order, signalling `fence`.
    void submit(std::span<const VkCommandBuffer> commands, VkFence fence, const std::string& doing);
    // Throws tessera::Error quoting the validation messages recorded since the last check.
    void check_validation(const std::string& doing);
    std::vector<std::string> take_validation_messages() { return instance_->take_messages(); }

  private:
    VulkanDevice(std::shared_ptr<VulkanInstance> instance, VkPhysicalDevice physical_device);

    VulkanBuffer& own_buffer(Buffer& buffer, const char* role) const;
    // Records commands with `record`, runs them on the queue and waits: one blocking transfer.
    template <typename Record>
    void run_transfer(const std::string& doing, Record record);
    Allocation& staging();

    std::shared_ptr<VulkanInstance> instance_;
    VkPhysicalDevice physical_device_;
    VkDevice device_ = VK_NULL_HANDLE;
    VkQueue queue_ = VK_NULL_HANDLE;
    uint32_t queue_family_ = 0;
    DeviceInfo info_;
    DeviceTuning tuning_;
    std::unique_ptr<MemoryAllocator> memory_;
    std::unique_ptr<PipelineCache> pipelines_;
    std::mutex queue_mutex_;

    // Blocking transfers: one at a time.
    std::mutex transfer_mutex_;
    VkCommandPool transfer_pool_ = VK_NULL_HANDLE;
    VkCommandBuffer transfer_commands_ = VK_NULL_HANDLE;
    VkFence transfer_fence_ = VK_NULL_HANDLE;
    Allocation staging_;
};

// The bytes [offset, offset + size) of a buffer of `buffer_size` bytes, or a tessera::Error
// saying which transfer went outside it.
void check_range(uint64_t buffer_size, uint64_t offset, uint64_t size, const char* what);

}  // namespace tessera::backend::vulkan
