// Compute pipelines of the embedded shaders, made on first use and kept for the device's life:
// one per shader variant and set of specialization constants (workgroup sizes and the like,
// chosen per device). Every pipeline has the same layout: push constants and no descriptor
// sets, since tensors travel as buffer device addresses.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "backends/vulkan/vulkan_api.h"

namespace tessera::backend::vulkan {

// The push constants every shader may use: the least that Vulkan guarantees.
inline constexpr uint32_t kPushConstantBytes = 128;

class PipelineCache {
  public:
    explicit PipelineCache(VkDevice device);
    ~PipelineCache();
    PipelineCache(const PipelineCache&) = delete;
    PipelineCache& operator=(const PipelineCache&) = delete;

    VkPipelineLayout layout() const { return layout_; }
    // The pipeline of `shader` with constant_id i set to constants[i]. Throws tessera::Error for
    // a shader the library does not embed or a pipeline the driver cannot make.
    VkPipeline get(const std::string& shader, std::span<const uint32_t> constants);

  private:
    VkShaderModule module(const std::string& shader);

    VkDevice device_;
    VkPipelineLayout layout_ = VK_NULL_HANDLE;
    VkPipelineCache cache_ = VK_NULL_HANDLE;
    std::mutex mutex_;
    std::map<std::string, VkShaderModule> modules_;
    std::map<std::pair<std::string, std::vector<uint32_t>>, VkPipeline> pipelines_;
};

}  // namespace tessera::backend::vulkan
