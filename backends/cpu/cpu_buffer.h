// A CPU buffer: host memory, either owned (64-byte aligned, from allocate) or a view of memory
// the caller keeps alive (wrap_host: a memory-mapped model file, used in place).
#pragma once

#include <cstdint>

#include "backends/backend.h"

namespace tessera::backend::cpu {

class CpuBuffer final : public Buffer {
  public:
    static constexpr uint64_t kAlignment = 64;

    // Allocates `size` bytes; throws tessera::Error saying how much was asked and how much
    // memory the machine has available when it cannot.
    CpuBuffer(uint64_t size, MemoryKind kind);
    // A view of caller memory: nothing is copied or freed.
    CpuBuffer(const void* data, uint64_t size);
    ~CpuBuffer() override;
    CpuBuffer(const CpuBuffer&) = delete;
    CpuBuffer& operator=(const CpuBuffer&) = delete;

    uint64_t size() const override { return size_; }
    MemoryKind kind() const override { return kind_; }
    void* host_data() override { return data_; }

  private:
    uint8_t* data_ = nullptr;
    uint64_t size_ = 0;
    MemoryKind kind_ = MemoryKind::HostVisible;
    bool owned_ = false;
};

}  // namespace tessera::backend::cpu
