// A CPU queue: its own runner thread, which executes submitted runs in order, and the thread
// pool the runner shares each op with (the runner is the pool's thread 0). submit() only
// enqueues; wait() blocks until the queue is empty and throws the first error of the runs since
// the last wait(). After a failed run the queue skips the runs submitted before that wait():
// they would compute on a state the failed run left half-written.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>

#include "backends/backend.h"
#include "backends/cpu/cpu_executable.h"
#include "backends/cpu/thread_pool.h"

namespace tessera::backend::cpu {

class CpuQueue final : public Queue {
  public:
    explicit CpuQueue(const QueueOptions& options);
    // Finishes the runs already submitted, then stops the threads. Errors are dropped.
    ~CpuQueue() override;
    CpuQueue(const CpuQueue&) = delete;
    CpuQueue& operator=(const CpuQueue&) = delete;

    // The executable must come from a CPU device and stay alive until wait() returns.
    void submit(Executable& executable, const StepValues& step) override;
    void wait() override;

    int n_threads() const { return pool_.n_threads(); }

  private:
    struct Run {
        const CpuExecutable* executable;
        StepValues step;
    };

    void runner_main();
    void execute(const Run& run);
    uint8_t* scratch(uint64_t bytes);

    ThreadPool pool_;

    std::mutex mutex_;
    std::condition_variable work_ready_;
    std::condition_variable queue_drained_;
    std::deque<Run> runs_;  // the front one is running while the runner holds it
    std::exception_ptr error_;
    bool stopping_ = false;

    // Scratch memory of the runs, grown to the largest executable's need; the runner's alone.
    struct AlignedFree {
        void operator()(uint8_t* bytes) const;
    };
    std::unique_ptr<uint8_t, AlignedFree> scratch_;
    uint64_t scratch_bytes_ = 0;

    std::thread runner_;  // last: started once everything above exists
};

}  // namespace tessera::backend::cpu
