// A graph compiled for a Vulkan device: every node checked against its op's definition and the
// buffers, turned into dispatches (ops/), and recorded once into one command buffer with a
// buffer memory barrier wherever a dispatch touches bytes that an earlier one, since the last
// barrier, wrote (or read, before a write). Each run submits that command buffer again, after a
// small prologue that writes the step values into the executable's step buffer.
//
// The executable owns its scratch memory (MUL_MAT's converted activations), its step buffer and
// its error slots (host-visible words the shaders flag when a row id is out of range). A run
// reads the step buffer, so one executable runs on one queue at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "backends/vulkan/ops/ops.h"
#include "backends/vulkan/vulkan_device.h"

namespace tessera::backend::vulkan {

class VulkanExecutable final : public Executable, private ActivationScratch {
  public:
    // Throws tessera::Error naming the node, its op and tensors when a node does not fit its
    // op's definition, has no Vulkan kernel, or reaches outside its buffers. The buffers must
    // outlive the executable.
    VulkanExecutable(std::shared_ptr<VulkanDevice> device, const Graph& graph,
                     std::span<Buffer* const> buffers);
    ~VulkanExecutable() override;
    VulkanExecutable(const VulkanExecutable&) = delete;
    VulkanExecutable& operator=(const VulkanExecutable&) = delete;

    const VulkanDevice* device() const { return device_.get(); }
    VkCommandBuffer commands() const { return commands_; }

    // What is wrong with these step values for the nodes that read them (a store past the
    // cache), as the CPU backend words it; checked before a run so that a bad step runs nothing.
    std::optional<std::string> step_problem(const StepValues& step) const;
    // Records into `commands` what a run needs before the recorded command buffer: a barrier
    // after the queue's earlier work and the step values written into the step buffer.
    void record_prologue(VkCommandBuffer commands, const StepValues& step) const;
    // The errors the shaders flagged in the runs since the last call (then cleared).
    std::optional<std::string> take_device_errors();

  private:
    struct StepCheck {
        Op op;
        std::string label;
        int64_t n_tokens = 0;       // KV_STORE: columns written
        int64_t n_ctx = 0;          // the cache's columns
        int64_t mask_columns = -1;  // FLASH_ATTN with a mask
    };
    struct ErrorCheck {
        size_t slot;
        std::string label;
        const uint8_t* ids = nullptr;  // GET_ROWS: the ids, where the host can read them
        int64_t n_ids = 0;
        int64_t n_table_rows = 0;
    };
    struct Conversion {
        MemoryRange source;
        quant::TensorType type;
        size_t slot;
    };

    ScratchSlot converted(const TensorView& source, quant::TensorType type,
                          uint64_t bytes) override;
    void release() noexcept;
    void record(const std::vector<Dispatch>& dispatches);
    TensorView resolve(const Graph& graph, int32_t index, std::span<Buffer* const> buffers,
                       const std::string& label, const char* role) const;

    std::shared_ptr<VulkanDevice> device_;
    Allocation step_buffer_;
    Allocation error_buffer_;
    Allocation scratch_;
    uint64_t scratch_slot_bytes_ = 0;
    size_t next_scratch_slot_ = 0;
    std::vector<Conversion> conversions_;  // what the scratch slots hold while building
    std::vector<StepCheck> step_checks_;
    std::vector<ErrorCheck> error_checks_;
    VkCommandPool pool_ = VK_NULL_HANDLE;
    VkCommandBuffer commands_ = VK_NULL_HANDLE;
};

}  // namespace tessera::backend::vulkan
