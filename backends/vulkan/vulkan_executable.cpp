#include "backends/vulkan/vulkan_executable.h"

#include <algorithm>
#include <cstring>

#include "backends/cpu/node_checks.h"
#include "backends/vulkan/vulkan_buffer.h"
#include "formats/error.h"

namespace tessera::backend::vulkan {

namespace {

// Converted activations rotate through this many scratch slots, so that a conversion can be
// reused by the next nodes (Q, K, V; gate and up) while the following one is made.
constexpr size_t kScratchSlots = 4;
constexpr uint32_t kErrorSlotBytes = kErrorSlotWords * 4;
constexpr uint32_t kNoIndex = 0xffffffffu;

// Bytes a tensor's address must be a multiple of: its widest scalar field (as the CPU backend).
uint64_t alignment_of(quant::TensorType type) {
    switch (type) {
        case quant::TensorType::F32:
        case quant::TensorType::I32:
        case quant::TensorType::Q8_K:
            return 4;
        default:
            return 2;
    }
}

std::string quoted(const Graph& graph, int32_t tensor) {
    const std::string& name = graph.tensors[static_cast<size_t>(tensor)].name;
    return name.empty() ? "tensor " + std::to_string(tensor) : "'" + name + "'";
}

// The ranges with overlapping or touching ones merged, per buffer.
std::vector<MemoryRange> merged(std::vector<MemoryRange> ranges) {
    std::sort(ranges.begin(), ranges.end(), [](const MemoryRange& a, const MemoryRange& b) {
        return a.buffer != b.buffer ? a.buffer < b.buffer : a.begin < b.begin;
    });
    std::vector<MemoryRange> out;
    for (const MemoryRange& range : ranges) {
        if (!out.empty() && out.back().buffer == range.buffer && range.begin <= out.back().end) {
            out.back().end = std::max(out.back().end, range.end);
        } else {
            out.push_back(range);
        }
    }
    return out;
}

bool overlaps_any(const std::vector<MemoryRange>& ranges, const MemoryRange& range) {
    return std::any_of(ranges.begin(), ranges.end(),
                       [&](const MemoryRange& other) { return other.overlaps(range); });
}

}  // namespace

VulkanExecutable::VulkanExecutable(std::shared_ptr<VulkanDevice> device, const Graph& graph,
                                   std::span<Buffer* const> buffers)
    : device_(std::move(device)) {
    try {
        MemoryAllocator& memory = device_->memory();
        step_buffer_ = memory.allocate(4 * sizeof(int32_t), MemoryKind::DeviceLocal);
        error_buffer_ = memory.allocate(std::max<uint64_t>(1, graph.nodes.size()) * kErrorSlotBytes,
                                        MemoryKind::HostVisible);
        auto* slots = reinterpret_cast<uint32_t*>(error_buffer_.host());
        for (size_t i = 0; i < std::max<size_t>(1, graph.nodes.size()); ++i) {
            slots[i * kErrorSlotWords] = 0;
            slots[i * kErrorSlotWords + 1] = kNoIndex;
        }

        // Every node checked and its tensors resolved before anything is recorded.
        std::vector<NodeContext> contexts;
        contexts.reserve(graph.nodes.size());
        uint64_t largest_conversion = 0;
        for (size_t index = 0; index < graph.nodes.size(); ++index) {
            const Node& node = graph.nodes[index];
            const std::string label = cpu::describe_node(graph, index);
            if (auto problem = node_problem(graph, node, device_->tuning()))
                throw Error(label + ": " + *problem);
            NodeContext context{graph,
                                node,
                                label,
                                {},
                                {},
                                device_->tuning(),
                                step_buffer_.address(),
                                error_buffer_.address() + index * kErrorSlotBytes,
                                *this};
            context.dst = resolve(graph, node.dst, buffers, label, "dst");
            for (size_t i = 0; i < kMaxSources; ++i) {
                if (node.src[i] < 0) continue;
                const std::string role = "src" + std::to_string(i);
                context.src[i] = resolve(graph, node.src[i], buffers, label, role.c_str());
                const bool same_bytes = context.src[i].range.buffer == context.dst.range.buffer &&
                                        context.src[i].range.begin == context.dst.range.begin &&
                                        context.src[i].range.end == context.dst.range.end;
                const bool in_place = cpu::may_run_in_place(node.op) && same_bytes;
                if (!in_place && context.src[i].range.overlaps(context.dst.range)) {
                    throw Error(
                        label + ": dst " + quoted(graph, node.dst) + " overlaps " + role + " " +
                        quoted(graph, node.src[i]) +
                        (cpu::may_run_in_place(node.op)
                             ? " without being the same bytes (only an exact in-place use "
                               "is allowed)"
                             : std::string(" and ") + op_name(node.op) + " cannot run in place"));
                }
            }
            if (node.op == Op::MUL_MAT) {
                const Tensor& input = *context.src[1].tensor;
                largest_conversion = std::max(
                    largest_conversion, converted_activation_bytes(
                                            *mul_mat_activation_type(context.src[0].tensor->type),
                                            input.shape[0], n_rows(input)));
            }
            if (node.op == Op::KV_STORE) {
                step_checks_.push_back({node.op, label, n_rows(*context.src[0].tensor),
                                        n_rows(*context.dst.tensor), -1});
            }
            if (node.op == Op::FLASH_ATTN) {
                step_checks_.push_back(
                    {node.op, label, 0, n_rows(*context.src[1].tensor),
                     context.src[3].present() ? context.src[3].tensor->shape[0] : -1});
            }
            if (node.op == Op::GET_ROWS) {
                error_checks_.push_back({index, label, context.src[1].host,
                                         context.src[1].tensor->n_elements(),
                                         n_rows(*context.src[0].tensor)});
            }
            contexts.push_back(std::move(context));
        }
        if (largest_conversion > 0) {
            scratch_slot_bytes_ = (largest_conversion + kAllocationAlignment - 1) /
                                  kAllocationAlignment * kAllocationAlignment;
            scratch_ =
                memory.allocate(scratch_slot_bytes_ * kScratchSlots, MemoryKind::DeviceLocal);
        }

        std::vector<Dispatch> dispatches;
        for (const NodeContext& context : contexts) {
            const size_t first = dispatches.size();
            build_dispatches(context, dispatches);
            // A node that writes the bytes a conversion was made from makes it stale.
            for (size_t d = first; d < dispatches.size(); ++d) {
                for (const MemoryRange& written : dispatches[d].writes) {
                    std::erase_if(conversions_, [&](const Conversion& conversion) {
                        return conversion.source.overlaps(written);
                    });
                }
            }
        }
        record(dispatches);
    } catch (...) {
        release();
        throw;
    }
}

VulkanExecutable::~VulkanExecutable() {
    release();
}

void VulkanExecutable::release() noexcept {
    if (pool_ != VK_NULL_HANDLE) {
        vkDestroyCommandPool(device_->handle(), pool_, nullptr);
        pool_ = VK_NULL_HANDLE;
    }
    MemoryAllocator& memory = device_->memory();
    for (Allocation* allocation : {&step_buffer_, &error_buffer_, &scratch_}) {
        memory.release(*allocation);
        *allocation = Allocation{};
    }
}

TensorView VulkanExecutable::resolve(const Graph& graph, int32_t index,
                                     std::span<Buffer* const> buffers, const std::string& label,
                                     const char* role) const {
    const Tensor& t = graph.tensors[static_cast<size_t>(index)];
    const std::string what = label + ": " + role + " " + quoted(graph, index);
    if (t.buffer >= buffers.size() || buffers[t.buffer] == nullptr) {
        throw Error(what + " is in buffer " + std::to_string(t.buffer) + " but compile was given " +
                    std::to_string(buffers.size()) + " buffers");
    }
    const auto* buffer = dynamic_cast<const VulkanBuffer*>(buffers[t.buffer]);
    if (buffer == nullptr || buffer->device() != device_.get()) {
        throw Error(what + " is in buffer " + std::to_string(t.buffer) +
                    ", which is not a buffer of this Vulkan device");
    }
    const uint64_t n_bytes = t.n_bytes();
    if (t.offset > buffer->size() || n_bytes > buffer->size() - t.offset) {
        throw Error(what + " needs bytes " + std::to_string(t.offset) + ".." +
                    std::to_string(t.offset + n_bytes) + " of buffer " + std::to_string(t.buffer) +
                    ", which has " + std::to_string(buffer->size()));
    }
    if (t.offset % alignment_of(t.type) != 0) {
        throw Error(what + " is at offset " + std::to_string(t.offset) + ", not a multiple of " +
                    std::to_string(alignment_of(t.type)) + " bytes");
    }
    TensorView view;
    view.tensor = &t;
    view.range = {buffer->vk_buffer(), buffer->vk_offset() + t.offset,
                  buffer->vk_offset() + t.offset + n_bytes};
    view.address = buffer->address() + t.offset;
    if (auto* host = static_cast<uint8_t*>(const_cast<VulkanBuffer*>(buffer)->host_data())) {
        view.host = host + t.offset;
    }
    return view;
}

ScratchSlot VulkanExecutable::converted(const TensorView& source, quant::TensorType type,
                                        uint64_t bytes) {
    const auto slot_of = [&](size_t slot) {
        ScratchSlot found;
        found.address = scratch_.address() + slot * scratch_slot_bytes_;
        found.range = {scratch_.buffer(), scratch_.offset + slot * scratch_slot_bytes_,
                       scratch_.offset + slot * scratch_slot_bytes_ + bytes};
        return found;
    };
    for (const Conversion& conversion : conversions_) {
        if (conversion.type == type && conversion.source.buffer == source.range.buffer &&
            conversion.source.begin == source.range.begin &&
            conversion.source.end == source.range.end) {
            ScratchSlot found = slot_of(conversion.slot);
            found.ready = true;
            return found;
        }
    }
    const size_t slot = next_scratch_slot_++ % kScratchSlots;
    std::erase_if(conversions_, [&](const Conversion& c) { return c.slot == slot; });
    conversions_.push_back({source.range, type, slot});
    return slot_of(slot);
}

void VulkanExecutable::record(const std::vector<Dispatch>& dispatches) {
    VkDevice handle = device_->handle();
    const std::string doing = "recording a graph";
    VkCommandPoolCreateInfo pool_info{};
    pool_info.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO;
    pool_info.queueFamilyIndex = device_->queue_family();
    check(vkCreateCommandPool(handle, &pool_info, nullptr, &pool_), "vkCreateCommandPool", doing);
    VkCommandBufferAllocateInfo allocate_info{};
    allocate_info.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO;
    allocate_info.commandPool = pool_;
    allocate_info.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
    allocate_info.commandBufferCount = 1;
    check(vkAllocateCommandBuffers(handle, &allocate_info, &commands_), "vkAllocateCommandBuffers",
          doing);
    VkCommandBufferBeginInfo begin{};
    begin.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO;
    // A queue may submit the same run again before the previous one finished.
    begin.flags = VK_COMMAND_BUFFER_USAGE_SIMULTANEOUS_USE_BIT;
    check(vkBeginCommandBuffer(commands_, &begin), "vkBeginCommandBuffer", doing);

    PipelineCache& pipelines = device_->pipelines();
    std::vector<MemoryRange> pending_reads, pending_writes;  // since the last barrier
    VkPipeline bound = VK_NULL_HANDLE;
    for (const Dispatch& dispatch : dispatches) {
        bool hazard = false;
        for (const MemoryRange& read : dispatch.reads) hazard |= overlaps_any(pending_writes, read);
        for (const MemoryRange& write : dispatch.writes) {
            hazard |= overlaps_any(pending_writes, write) || overlaps_any(pending_reads, write);
        }
        if (hazard) {
            // Everything written since the last barrier is made visible, so that the next
            // barrier need not look further back.
            std::vector<VkBufferMemoryBarrier> barriers;
            for (const MemoryRange& range : merged(pending_writes)) {
                VkBufferMemoryBarrier barrier{};
                barrier.sType = VK_STRUCTURE_TYPE_BUFFER_MEMORY_BARRIER;
                barrier.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT;
                barrier.dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT;
                barrier.srcQueueFamilyIndex = VK_QUEUE_FAMILY_IGNORED;
                barrier.dstQueueFamilyIndex = VK_QUEUE_FAMILY_IGNORED;
                barrier.buffer = range.buffer;
                barrier.offset = range.begin;
                barrier.size = range.end - range.begin;
                barriers.push_back(barrier);
            }
            vkCmdPipelineBarrier(commands_, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT,
                                 VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, 0, 0, nullptr,
                                 static_cast<uint32_t>(barriers.size()), barriers.data(), 0,
                                 nullptr);
            pending_reads.clear();
            pending_writes.clear();
        }
        VkPipeline pipeline = VK_NULL_HANDLE;
        try {
            pipeline = pipelines.get(dispatch.shader, dispatch.constants);
        } catch (const Error& error) {
            throw Error(dispatch.label + ": " + error.what());
        }
        if (pipeline != bound) {
            vkCmdBindPipeline(commands_, VK_PIPELINE_BIND_POINT_COMPUTE, pipeline);
            bound = pipeline;
        }
        std::array<uint8_t, kPushConstantBytes> push{};
        const auto bytes = dispatch.push.bytes();
        std::memcpy(push.data(), bytes.data(), bytes.size());
        vkCmdPushConstants(commands_, pipelines.layout(), VK_SHADER_STAGE_COMPUTE_BIT, 0,
                           kPushConstantBytes, push.data());
        vkCmdDispatch(commands_, dispatch.groups[0], dispatch.groups[1], dispatch.groups[2]);
        pending_reads.insert(pending_reads.end(), dispatch.reads.begin(), dispatch.reads.end());
        pending_writes.insert(pending_writes.end(), dispatch.writes.begin(), dispatch.writes.end());
    }
    // The results (and the error slots) visible to the host once the run's fence signals.
    VkMemoryBarrier to_host{};
    to_host.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER;
    to_host.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT;
    to_host.dstAccessMask = VK_ACCESS_HOST_READ_BIT;
    vkCmdPipelineBarrier(commands_, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT,
                         VK_PIPELINE_STAGE_HOST_BIT, 0, 1, &to_host, 0, nullptr, 0, nullptr);
    check(vkEndCommandBuffer(commands_), "vkEndCommandBuffer", doing);
}

void VulkanExecutable::record_prologue(VkCommandBuffer commands, const StepValues& step) const {
    // After everything the queue ran before (earlier runs and transfers, which may touch the
    // same buffers), then the step values, visible to the shaders.
    VkMemoryBarrier before{};
    before.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER;
    before.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
    before.dstAccessMask =
        VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
    const VkPipelineStageFlags stages =
        VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT;
    vkCmdPipelineBarrier(commands, stages, stages, 0, 1, &before, 0, nullptr, 0, nullptr);
    // The layout of shaders/common.glsl's StepValues: the seed as two 32-bit halves.
    const int32_t values[4] = {step.position, step.n_kv,
                               static_cast<int32_t>(step.seed & 0xffffffffu),
                               static_cast<int32_t>(step.seed >> 32)};
    vkCmdUpdateBuffer(commands, step_buffer_.buffer(), step_buffer_.offset, sizeof(values), values);
    VkMemoryBarrier written{};
    written.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER;
    written.srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT;
    written.dstAccessMask = VK_ACCESS_SHADER_READ_BIT;
    vkCmdPipelineBarrier(commands, VK_PIPELINE_STAGE_TRANSFER_BIT,
                         VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, 0, 1, &written, 0, nullptr, 0,
                         nullptr);
}

std::optional<std::string> VulkanExecutable::step_problem(const StepValues& step) const {
    for (const StepCheck& check : step_checks_) {
        if (check.op == Op::KV_STORE) {
            if (step.position < 0 || step.position + check.n_tokens > check.n_ctx) {
                return check.label + ": writes cache columns " + std::to_string(step.position) +
                       ".." + std::to_string(step.position + check.n_tokens - 1) +
                       " but the cache has " + std::to_string(check.n_ctx) + " columns (0.." +
                       std::to_string(check.n_ctx - 1) + ")";
            }
            continue;
        }
        if (step.n_kv < 0 || step.n_kv > check.n_ctx) {
            return check.label + ": step.n_kv is " + std::to_string(step.n_kv) +
                   " but the cache has " + std::to_string(check.n_ctx) + " columns";
        }
        if (step.position < 0) {
            return check.label + ": step.position is negative (" + std::to_string(step.position) +
                   ")";
        }
        if (check.mask_columns >= 0 && check.mask_columns < step.n_kv) {
            return check.label + ": the mask has " + std::to_string(check.mask_columns) +
                   " columns but step.n_kv is " + std::to_string(step.n_kv);
        }
    }
    return std::nullopt;
}

std::optional<std::string> VulkanExecutable::take_device_errors() {
    auto* words = reinterpret_cast<uint32_t*>(error_buffer_.host());
    std::optional<std::string> first;
    for (const ErrorCheck& check : error_checks_) {
        uint32_t* slot = words + check.slot * kErrorSlotWords;
        if (slot[0] == 0) continue;
        const uint32_t index = slot[1];
        if (!first) {
            // The offending id itself, where the ids' memory can be read from the host.
            std::string id_text;
            if (check.ids != nullptr && index < check.n_ids) {
                int32_t id = 0;
                std::memcpy(&id, check.ids + uint64_t{index} * sizeof(int32_t), sizeof(id));
                id_text = std::to_string(id);
                id_text.insert(0, 1, ' ');
            }
            first = check.label + ": row id" + id_text + " at index " + std::to_string(index) +
                    " is outside the " + std::to_string(check.n_table_rows) + " rows of the table";
        }
        slot[0] = 0;
        slot[1] = kNoIndex;
    }
    return first;
}

}  // namespace tessera::backend::vulkan
