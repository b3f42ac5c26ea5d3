// A Vulkan instance through the system loader (libvulkan), shared by the devices opened from it,
// and the physical devices the backend can use, in its order (discrete, integrated, virtual,
// CPU). With validation on, the instance enables VK_LAYER_KHRONOS_validation and records every
// message it reports (never printing them); the devices turn recorded messages into errors.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "backends/vulkan/vulkan_api.h"

namespace tessera::backend::vulkan {

// TESSERA_VULKAN_VALIDATION=1 in the environment asks for validation.
bool validation_requested();

class VulkanInstance {
  public:
    // Throws tessera::Error when there is no Vulkan loader or driver, or when validation is asked
    // for and the validation layer is not installed.
    static std::shared_ptr<VulkanInstance> create(bool validation);
    ~VulkanInstance();
    VulkanInstance(const VulkanInstance&) = delete;
    VulkanInstance& operator=(const VulkanInstance&) = delete;

    VkInstance handle() const { return instance_; }
    bool validation() const { return messenger_ != VK_NULL_HANDLE; }

    // The devices with what the backend needs (Vulkan 1.2, a compute queue, buffer device
    // addresses), sorted by kind as list_devices() promises; within a kind, the loader's order.
    std::vector<VkPhysicalDevice> usable_devices() const;
    // Why a device cannot be used, or "" when it can.
    static std::string unusable_reason(VkPhysicalDevice device);

    // The validation messages (warnings and errors) recorded since the last call.
    std::vector<std::string> take_messages();

  private:
    VulkanInstance() = default;
    static VKAPI_ATTR VkBool32 VKAPI_CALL record_message(
        VkDebugUtilsMessageSeverityFlagBitsEXT severity, VkDebugUtilsMessageTypeFlagsEXT types,
        const VkDebugUtilsMessengerCallbackDataEXT* data, void* user_data);

    VkInstance instance_ = VK_NULL_HANDLE;
    VkDebugUtilsMessengerEXT messenger_ = VK_NULL_HANDLE;
    std::mutex messages_mutex_;
    std::vector<std::string> messages_;
};

}  // namespace tessera::backend::vulkan
