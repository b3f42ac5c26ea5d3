// A graph compiled for the CPU: every node checked against its op's definition and the
// buffers, then a flat schedule of kernels with the tensors' host addresses resolved and the
// scratch memory each node needs sized. Running it needs only a thread pool, the step values
// and scratch memory, all owned by the queue, so one executable may run on several queues.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "backends/backend.h"
#include "backends/cpu/cpu_features.h"
#include "backends/cpu/ops/ops.h"
#include "backends/cpu/thread_pool.h"

namespace tessera::backend::cpu {

class CpuExecutable final : public Executable {
  public:
    // Throws tessera::Error naming the node, its op and tensors when a node does not fit its
    // op's definition, has no CPU kernel, or reaches outside its buffers. The buffers must
    // outlive the executable.
    CpuExecutable(const Graph& graph, std::span<Buffer* const> buffers,
                  const CpuFeatures& features);

    // Checks the step values against every node that reads them (cache bounds); throws
    // tessera::Error naming the node.
    void check_step(const StepValues& step) const;

    // Runs every node in order. `scratch` holds scratch_bytes(pool.n_threads()) bytes, 64-byte
    // aligned. Errors of a kernel (a row id out of range) are thrown as tessera::Error.
    void run(ThreadPool& pool, const StepValues& step, uint8_t* scratch) const;

    uint64_t scratch_bytes(int n_threads) const;

  private:
    struct Step {
        CompiledNode node;
        OpKernel kernel;
    };

    std::vector<Step> schedule_;
    uint64_t shared_scratch_bytes_ = 0;      // the most any node needs
    uint64_t per_thread_scratch_bytes_ = 0;  // likewise, rounded up to the alignment
};

}  // namespace tessera::backend::cpu
