#include "backends/vulkan/vulkan_instance.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "formats/error.h"

namespace tessera::backend::vulkan {

namespace {

constexpr const char* kValidationLayer = "VK_LAYER_KHRONOS_validation";

bool layer_available(const char* name) {
    uint32_t count = 0;
    if (vkEnumerateInstanceLayerProperties(&count, nullptr) != VK_SUCCESS) return false;
    std::vector<VkLayerProperties> layers(count);
    if (vkEnumerateInstanceLayerProperties(&count, layers.data()) != VK_SUCCESS) return false;
    return std::any_of(layers.begin(), layers.end(), [&](const VkLayerProperties& layer) {
        return std::strcmp(layer.layerName, name) == 0;
    });
}

// The order of DeviceKind: discrete, integrated, virtual, then the rest (CPU, other).
int kind_rank(VkPhysicalDeviceType type) {
    switch (type) {
        case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU:
            return 0;
        case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU:
            return 1;
        case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU:
            return 2;
        default:
            return 3;
    }
}

}  // namespace

bool validation_requested() {
    const char* value = std::getenv("TESSERA_VULKAN_VALIDATION");
    return value != nullptr && value[0] != '\0' && std::strcmp(value, "0") != 0;
}

std::shared_ptr<VulkanInstance> VulkanInstance::create(bool validation) {
    std::shared_ptr<VulkanInstance> instance(new VulkanInstance());

    VkApplicationInfo application{};
    application.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO;
    application.pApplicationName = "tessera";
    application.pEngineName = "tessera";
    application.apiVersion = VK_API_VERSION_1_2;

    VkInstanceCreateInfo info{};
    info.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO;
    info.pApplicationInfo = &application;

    // The messenger also watches instance creation and destruction through the pNext chain.
    VkDebugUtilsMessengerCreateInfoEXT messenger_info{};
    messenger_info.sType = VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT;
    messenger_info.messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT |
                                     VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT;
    messenger_info.messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT |
                                 VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                                 VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT;
    messenger_info.pfnUserCallback = &VulkanInstance::record_message;
    messenger_info.pUserData = instance.get();

    const char* layers[] = {kValidationLayer};
    const char* extensions[] = {VK_EXT_DEBUG_UTILS_EXTENSION_NAME};
    if (validation) {
        if (!layer_available(kValidationLayer)) {
            throw Error(std::string("vulkan: validation was asked for (TESSERA_VULKAN_VALIDATION) "
                                    "but the layer ") +
                        kValidationLayer + " is not installed (Debian: vulkan-validationlayers)");
        }
        info.enabledLayerCount = 1;
        info.ppEnabledLayerNames = layers;
        info.enabledExtensionCount = 1;
        info.ppEnabledExtensionNames = extensions;
        info.pNext = &messenger_info;
    }
    check(vkCreateInstance(&info, nullptr, &instance->instance_), "vkCreateInstance",
          "starting Vulkan through the system loader");

    if (validation) {
        const auto create_messenger = reinterpret_cast<PFN_vkCreateDebugUtilsMessengerEXT>(
            vkGetInstanceProcAddr(instance->instance_, "vkCreateDebugUtilsMessengerEXT"));
        if (create_messenger == nullptr) {
            throw Error("vulkan: the validation layer offers no vkCreateDebugUtilsMessengerEXT");
        }
        check(
            create_messenger(instance->instance_, &messenger_info, nullptr, &instance->messenger_),
            "vkCreateDebugUtilsMessengerEXT", "recording validation messages");
    }
    return instance;
}

VulkanInstance::~VulkanInstance() {
    if (messenger_ != VK_NULL_HANDLE) {
        const auto destroy_messenger = reinterpret_cast<PFN_vkDestroyDebugUtilsMessengerEXT>(
            vkGetInstanceProcAddr(instance_, "vkDestroyDebugUtilsMessengerEXT"));
        if (destroy_messenger != nullptr) destroy_messenger(instance_, messenger_, nullptr);
    }
    if (instance_ != VK_NULL_HANDLE) vkDestroyInstance(instance_, nullptr);
}

std::string VulkanInstance::unusable_reason(VkPhysicalDevice device) {
    VkPhysicalDeviceProperties properties;
    vkGetPhysicalDeviceProperties(device, &properties);
    if (properties.apiVersion < VK_API_VERSION_1_2) return "it supports Vulkan 1.1 at most";

    uint32_t n_families = 0;
    vkGetPhysicalDeviceQueueFamilyProperties(device, &n_families, nullptr);
    std::vector<VkQueueFamilyProperties> families(n_families);
    vkGetPhysicalDeviceQueueFamilyProperties(device, &n_families, families.data());
    if (std::none_of(families.begin(), families.end(), [](const VkQueueFamilyProperties& f) {
            return (f.queueFlags & VK_QUEUE_COMPUTE_BIT) != 0 && f.queueCount > 0;
        })) {
        return "it has no compute queue";
    }

    VkPhysicalDeviceVulkan12Features features12{};
    features12.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES;
    VkPhysicalDeviceFeatures2 features{};
    features.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2;
    features.pNext = &features12;
    vkGetPhysicalDeviceFeatures2(device, &features);
    if (!features12.bufferDeviceAddress) return "it has no buffer device addresses";
    return "";
}

std::vector<VkPhysicalDevice> VulkanInstance::usable_devices() const {
    uint32_t count = 0;
    check(vkEnumeratePhysicalDevices(instance_, &count, nullptr), "vkEnumeratePhysicalDevices",
          "listing devices");
    std::vector<VkPhysicalDevice> devices(count);
    check(vkEnumeratePhysicalDevices(instance_, &count, devices.data()),
          "vkEnumeratePhysicalDevices", "listing devices");
    devices.resize(count);
    std::erase_if(devices,
                  [](VkPhysicalDevice device) { return !unusable_reason(device).empty(); });
    std::stable_sort(devices.begin(), devices.end(), [](VkPhysicalDevice a, VkPhysicalDevice b) {
        VkPhysicalDeviceProperties pa, pb;
        vkGetPhysicalDeviceProperties(a, &pa);
        vkGetPhysicalDeviceProperties(b, &pb);
        return kind_rank(pa.deviceType) < kind_rank(pb.deviceType);
    });
    return devices;
}

std::vector<std::string> VulkanInstance::take_messages() {
    const std::lock_guard lock(messages_mutex_);
    std::vector<std::string> taken;
    taken.swap(messages_);
    return taken;
}

VKAPI_ATTR VkBool32 VKAPI_CALL VulkanInstance::record_message(
    VkDebugUtilsMessageSeverityFlagBitsEXT severity, VkDebugUtilsMessageTypeFlagsEXT /*types*/,
    const VkDebugUtilsMessengerCallbackDataEXT* data, void* user_data) {
    auto* instance = static_cast<VulkanInstance*>(user_data);
    // No exception may leave a callback of the driver; a message that cannot be stored is lost.
    try {
        std::string message = (severity & VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT) != 0
                                  ? "error: "
                                  : "warning: ";
        if (data != nullptr && data->pMessage != nullptr) message += data->pMessage;
        const std::lock_guard lock(instance->messages_mutex_);
        instance->messages_.push_back(std::move(message));
    } catch (...) {
    }
    return VK_FALSE;  // the call that caused the message goes on
}

}  // namespace tessera::backend::vulkan
