#include "backends/vulkan/vulkan_queue.h"

#include <algorithm>
#include <limits>

#include "backends/vulkan/vulkan_executable.h"
#include "formats/error.h"

namespace tessera::backend::vulkan {

VulkanQueue::VulkanQueue(std::shared_ptr<VulkanDevice> device) : device_(std::move(device)) {
    VkCommandPoolCreateInfo info{};
    info.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO;
    info.flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT;
    info.queueFamilyIndex = device_->queue_family();
    check(vkCreateCommandPool(device_->handle(), &info, nullptr, &pool_), "vkCreateCommandPool",
          "creating a queue");
}

VulkanQueue::~VulkanQueue() {
    release();
}

void VulkanQueue::release() noexcept {
    VkDevice device = device_->handle();
    for (const Run& run : in_flight_) {
        vkWaitForFences(device, 1, &run.fence, VK_TRUE, std::numeric_limits<uint64_t>::max());
    }
    for (auto* runs : {&in_flight_, &free_}) {
        for (const Run& run : *runs) vkDestroyFence(device, run.fence, nullptr);
        runs->clear();
    }
    if (pool_ != VK_NULL_HANDLE) vkDestroyCommandPool(device, pool_, nullptr);
    pool_ = VK_NULL_HANDLE;
}

VulkanQueue::Run VulkanQueue::take_free_run() {
    if (!free_.empty()) {
        Run run = free_.back();
        free_.pop_back();
        return run;
    }
    Run run;
    VkCommandBufferAllocateInfo allocate_info{};
    allocate_info.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO;
    allocate_info.commandPool = pool_;
    allocate_info.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
    allocate_info.commandBufferCount = 1;
    check(vkAllocateCommandBuffers(device_->handle(), &allocate_info, &run.prologue),
          "vkAllocateCommandBuffers", "submitting a run");
    VkFenceCreateInfo fence_info{};
    fence_info.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO;
    if (const VkResult result = vkCreateFence(device_->handle(), &fence_info, nullptr, &run.fence);
        result != VK_SUCCESS) {
        vkFreeCommandBuffers(device_->handle(), pool_, 1, &run.prologue);
        check(result, "vkCreateFence", "submitting a run");
    }
    return run;
}

void VulkanQueue::submit(Executable& executable, const StepValues& step) {
    auto* own = dynamic_cast<VulkanExecutable*>(&executable);
    if (own == nullptr || own->device() != device_.get()) {
        throw Error("vulkan queue: the executable was compiled by another device");
    }
    if (refused_) return;  // a refused run: the ones after it until wait() are skipped
    if (auto problem = own->step_problem(step)) {
        refused_ = std::move(problem);
        return;
    }
    const std::string doing = "submitting a run";
    Run run = take_free_run();
    try {
        check(vkResetCommandBuffer(run.prologue, 0), "vkResetCommandBuffer", doing);
        VkCommandBufferBeginInfo begin{};
        begin.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO;
        begin.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
        check(vkBeginCommandBuffer(run.prologue, &begin), "vkBeginCommandBuffer", doing);
        own->record_prologue(run.prologue, step);
        check(vkEndCommandBuffer(run.prologue), "vkEndCommandBuffer", doing);
        check(vkResetFences(device_->handle(), 1, &run.fence), "vkResetFences", doing);
        const VkCommandBuffer commands[] = {run.prologue, own->commands()};
        device_->submit(commands, run.fence, doing);
    } catch (...) {
        free_.push_back(run);
        throw;
    }
    run.executable = own;
    in_flight_.push_back(run);
}

void VulkanQueue::wait() {
    std::optional<std::string> error;
    // Every fence is waited for, even after a failure, so that nothing is left in flight.
    std::vector<VulkanExecutable*> ran;
    for (const Run& run : in_flight_) {
        const VkResult result = vkWaitForFences(device_->handle(), 1, &run.fence, VK_TRUE,
                                                std::numeric_limits<uint64_t>::max());
        if (result != VK_SUCCESS && !error) {
            try {
                check(result, "vkWaitForFences", "waiting for a run");
            } catch (const Error& e) {
                error = e.what();
            }
        }
        if (std::find(ran.begin(), ran.end(), run.executable) == ran.end()) {
            ran.push_back(run.executable);
        }
    }
    for (Run& run : in_flight_) {
        run.executable = nullptr;
        free_.push_back(run);
    }
    in_flight_.clear();
    if (!error && refused_) error = refused_;
    refused_.reset();
    for (VulkanExecutable* executable : ran) {
        if (auto device_error = executable->take_device_errors(); device_error && !error) {
            error = std::move(device_error);
        }
    }
    if (error) throw Error(*error);
    device_->check_validation("a run");
}

}  // namespace tessera::backend::vulkan
