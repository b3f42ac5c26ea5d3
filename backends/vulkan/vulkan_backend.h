// The Vulkan backend: compute on every GPU (and CPU implementation, such as Mesa's lavapipe)
// with a Vulkan 1.2 driver and buffer device addresses, through the system loader. Its devices
// are listed discrete first, then integrated, virtual and CPU ones.
//
// TESSERA_VULKAN_VALIDATION=1 in the environment runs every device under the Khronos validation
// layer: a message it reports becomes a tessera::Error at the next transfer, compile or wait().
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "backends/backend.h"

namespace tessera::backend::vulkan {

// The usable devices; none when there is no Vulkan driver.
std::vector<DeviceInfo> list_devices();
// Throws tessera::Error when there is no such device or it cannot be opened.
std::shared_ptr<Device> open_device(int index);

// How a device is opened, beyond the defaults.
struct DeviceOptions {
    // Map device-local memory into the host's address space where the device allows it
    // (integrated GPUs, lavapipe): transfers are then plain copies and host_data() is set. Off,
    // every device-local buffer is reached through the staging buffer, as on a discrete GPU
    // (the tests use it to run that path on lavapipe).
    bool map_device_local_memory = true;
    // Use the shader variants that need device features (64-bit integers) where the device has
    // them. Off, every shader runs its variant for the plainest device (the tests use it to run
    // those on a device that has the features).
    bool use_optional_features = true;
};
std::shared_ptr<Device> open_device(int index, const DeviceOptions& options);

// The validation messages a device's instance recorded and has not yet reported, taken (tests
// check that a run left none). Empty for a device without validation or not of this backend.
std::vector<std::string> take_validation_messages(Device& device);

}  // namespace tessera::backend::vulkan
