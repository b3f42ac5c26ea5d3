// A Vulkan queue of one context: runs submitted in order on the device's VkQueue, one
// vkQueueSubmit and one fence per run (a small prologue command buffer with the step values,
// then the executable's recorded command buffer). wait() waits for the fences, then reports,
// as tessera::Error, the first of: a lost device, a step the host refused at submit (a store
// past the cache: nothing of that run was submitted), an error the shaders flagged (a row id
// out of range), a validation message. After a refused run, the runs submitted before the next
// wait() are skipped, as on the CPU.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "backends/vulkan/vulkan_device.h"

namespace tessera::backend::vulkan {

class VulkanExecutable;

class VulkanQueue final : public Queue {
  public:
    explicit VulkanQueue(std::shared_ptr<VulkanDevice> device);
    // Waits for the runs in flight; errors are dropped.
    ~VulkanQueue() override;
    VulkanQueue(const VulkanQueue&) = delete;
    VulkanQueue& operator=(const VulkanQueue&) = delete;

    // The executable must come from the same device and stay alive until wait() returns.
    void submit(Executable& executable, const StepValues& step) override;
    void wait() override;

  private:
    struct Run {
        VkCommandBuffer prologue = VK_NULL_HANDLE;
        VkFence fence = VK_NULL_HANDLE;
        VulkanExecutable* executable = nullptr;
    };

    Run take_free_run();
    void release() noexcept;

    std::shared_ptr<VulkanDevice> device_;
    VkCommandPool pool_ = VK_NULL_HANDLE;
    std::vector<Run> in_flight_;
    std::vector<Run> free_;
    std::optional<std::string> refused_;  // why a run was refused at submit
};

}  // namespace tessera::backend::vulkan
