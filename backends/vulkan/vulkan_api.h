// The Vulkan API as the backend uses it: the headers, and every VkResult turned into a
// tessera::Error that names the call and what it was doing.
#pragma once

#include <vulkan/vulkan.h>

#include <string>

namespace tessera::backend::vulkan {

// "VK_ERROR_OUT_OF_DEVICE_MEMORY", "VK_ERROR_DEVICE_LOST", ...
const char* result_name(VkResult result);

// Throws tessera::Error("vulkan: CALL failed with RESULT while DOING") unless the result is
// VK_SUCCESS. `doing` names the op, the node or the transfer.
void check(VkResult result, const char* call, const std::string& doing);

}  // namespace tessera::backend::vulkan
