// The CPU backend: the reference implementation of every op, multi-threaded, with SIMD kernels
// for the hot paths. Weights are used in place from a memory-mapped file (wrap_host).
#pragma once

#include <memory>
#include <vector>

#include "backends/backend.h"
#include "backends/cpu/cpu_features.h"

namespace tessera::backend::cpu {

std::vector<DeviceInfo> list_devices();  // one device: this machine's CPU
std::shared_ptr<Device> open_device(int index);

// The CPU device with its kernels chosen for `features` rather than detected: the tests compare
// scalar_cpu_features() against the SIMD kernels through whole ops. Features the CPU lacks
// must not be passed.
std::shared_ptr<Device> open_device_with_features(const CpuFeatures& features);

}  // namespace tessera::backend::cpu
