#include "backends/vulkan/vulkan_pipelines.h"

#include <cstring>

#include "backends/vulkan/vulkan_shaders.h"
#include "formats/error.h"

namespace tessera::backend::vulkan {

PipelineCache::PipelineCache(VkDevice device) : device_(device) {
    VkPushConstantRange range{};
    range.stageFlags = VK_SHADER_STAGE_COMPUTE_BIT;
    range.offset = 0;
    range.size = kPushConstantBytes;
    VkPipelineLayoutCreateInfo layout_info{};
    layout_info.sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO;
    layout_info.pushConstantRangeCount = 1;
    layout_info.pPushConstantRanges = &range;
    check(vkCreatePipelineLayout(device_, &layout_info, nullptr, &layout_),
          "vkCreatePipelineLayout", "setting up the compute pipelines");
    VkPipelineCacheCreateInfo cache_info{};
    cache_info.sType = VK_STRUCTURE_TYPE_PIPELINE_CACHE_CREATE_INFO;
    if (const VkResult result = vkCreatePipelineCache(device_, &cache_info, nullptr, &cache_);
        result != VK_SUCCESS) {
        vkDestroyPipelineLayout(device_, layout_, nullptr);
        check(result, "vkCreatePipelineCache", "setting up the compute pipelines");
    }
}

PipelineCache::~PipelineCache() {
    for (auto& [key, pipeline] : pipelines_) vkDestroyPipeline(device_, pipeline, nullptr);
    for (auto& [name, module] : modules_) vkDestroyShaderModule(device_, module, nullptr);
    vkDestroyPipelineCache(device_, cache_, nullptr);
    vkDestroyPipelineLayout(device_, layout_, nullptr);
}

VkShaderModule PipelineCache::module(const std::string& shader) {
    if (auto it = modules_.find(shader); it != modules_.end()) return it->second;
    for (const ShaderCode& code : shader_codes()) {
        if (shader != code.name) continue;
        VkShaderModuleCreateInfo info{};
        info.sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO;
        info.codeSize = code.words.size_bytes();
        info.pCode = code.words.data();
        VkShaderModule module = VK_NULL_HANDLE;
        check(vkCreateShaderModule(device_, &info, nullptr, &module), "vkCreateShaderModule",
              "loading shader " + shader);
        modules_.emplace(shader, module);
        return module;
    }
    throw Error("vulkan: the library embeds no shader named '" + shader + "'");
}

VkPipeline PipelineCache::get(const std::string& shader, std::span<const uint32_t> constants) {
    const std::lock_guard lock(mutex_);
    auto key = std::make_pair(shader, std::vector<uint32_t>(constants.begin(), constants.end()));
    if (auto it = pipelines_.find(key); it != pipelines_.end()) return it->second;

    std::vector<VkSpecializationMapEntry> entries(constants.size());
    for (uint32_t i = 0; i < constants.size(); ++i) {
        entries[i].constantID = i;
        entries[i].offset = i * static_cast<uint32_t>(sizeof(uint32_t));
        entries[i].size = sizeof(uint32_t);
    }
    VkSpecializationInfo specialization{};
    specialization.mapEntryCount = static_cast<uint32_t>(entries.size());
    specialization.pMapEntries = entries.data();
    specialization.dataSize = constants.size_bytes();
    specialization.pData = constants.data();

    VkComputePipelineCreateInfo info{};
    info.sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO;
    info.stage.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO;
    info.stage.stage = VK_SHADER_STAGE_COMPUTE_BIT;
    info.stage.module = module(shader);
    info.stage.pName = "main";
    info.stage.pSpecializationInfo = constants.empty() ? nullptr : &specialization;
    info.layout = layout_;
    VkPipeline pipeline = VK_NULL_HANDLE;
    check(vkCreateComputePipelines(device_, cache_, 1, &info, nullptr, &pipeline),
          "vkCreateComputePipelines", "making the pipeline of shader " + shader);
    pipelines_.emplace(std::move(key), pipeline);
    return pipeline;
}

}  // namespace tessera::backend::vulkan
