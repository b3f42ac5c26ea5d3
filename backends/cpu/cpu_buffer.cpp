#include "backends/cpu/cpu_buffer.h"

#include <algorithm>
#include <new>
#include <string>

#include "backends/cpu/host_memory.h"
#include "formats/error.h"

namespace tessera::backend::cpu {

CpuBuffer::CpuBuffer(uint64_t size, MemoryKind kind) : size_(size), kind_(kind), owned_(true) {
    // Even an empty buffer gets an address, so that host_data() is never null for a CPU buffer.
    const uint64_t rounded =
        (std::max<uint64_t>(size, 1) + kAlignment - 1) / kAlignment * kAlignment;
    if (rounded < size) throw Error("cpu: cannot allocate " + std::to_string(size) + " bytes");
    data_ =
        static_cast<uint8_t*>(::operator new (rounded, std::align_val_t{kAlignment}, std::nothrow));
    if (data_ == nullptr) {
        throw Error("cpu: cannot allocate " + std::to_string(size) + " bytes (" +
                    format_bytes(size) + ") of host memory; " +
                    format_bytes(host_memory().available_bytes) + " available of " +
                    format_bytes(host_memory().total_bytes));
    }
}

CpuBuffer::CpuBuffer(const void* data, uint64_t size)
    : data_(static_cast<uint8_t*>(const_cast<void*>(data))), size_(size) {}

CpuBuffer::~CpuBuffer() {
    if (owned_) ::operator delete (data_, std::align_val_t{kAlignment});
}

}  // namespace tessera::backend::cpu
