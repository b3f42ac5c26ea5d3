// The worker threads of one CPU queue and the one way ops use them: parallel_for(n_tasks, fn),
// which runs fn(task, thread) for every task on the calling thread and the workers and returns
// when all tasks are done (a barrier).
//
// Ops are launched back to back (hundreds per decoded token), so the hand-off is built for low
// latency: a launch is a few atomic stores that spinning workers see within nanoseconds, tasks
// are claimed with one atomic add each, and completion is counted in tasks, not in workers: the
// caller waits only for tasks that were actually claimed, never for a worker that has not woken
// up yet (on a busy machine it simply finds no work left). Workers spin for a short while after
// each job, yield, and then sleep on the job counter (a futex), so an idle queue costs no CPU.
//
// Tasks are handed out dynamically. Ops make their split depend on the shapes only, never on
// the thread count, so that which thread runs a task never changes a result.
#pragma once

#include <atomic>
#include <cstdint>
#include <exception>
#include <mutex>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

namespace tessera::backend::cpu {

class ThreadPool {
  public:
    // A pool of n_threads threads in all: the caller of parallel_for is thread 0 and
    // n_threads - 1 workers are started here. n_threads <= 0 means one per hardware thread.
    explicit ThreadPool(int n_threads);
    ~ThreadPool();
    ThreadPool(const ThreadPool&) = delete;
    ThreadPool& operator=(const ThreadPool&) = delete;

    int n_threads() const { return n_threads_; }

    // Runs fn(int64_t task, int thread) for task in [0, n_tasks), thread in [0, n_threads()),
    // and returns once every task has finished. n_tasks < 2^31. An exception thrown by a task is
    // rethrown here (the first one; the remaining tasks still run). Called from one thread at a
    // time.
    template <class Fn>
    void parallel_for(int64_t n_tasks, Fn&& fn) {
        using Callable = std::remove_reference_t<Fn>;
        run(
            n_tasks,
            [](void* callable, int64_t task, int thread) {
                (*static_cast<Callable*>(callable))(task, thread);
            },
            const_cast<void*>(static_cast<const void*>(&fn)));
    }

  private:
    using TaskFunction = void (*)(void* callable, int64_t task, int thread);

    void run(int64_t n_tasks, TaskFunction function, void* callable);
    // Claims and runs tasks of the current job until none is left.
    void run_tasks(int thread);
    void worker_main(int thread);
    void record_error(std::exception_ptr error);

    int n_threads_ = 1;
    std::vector<std::thread> workers_;

    // The current job, written by thread 0 before it publishes the job through claims_. They
    // stay unchanged while any task of the job is unfinished, so that a thread holding a
    // claimed task may read them.
    TaskFunction function_ = nullptr;
    void* callable_ = nullptr;

    // Each on its own cache line. claims_ packs the job's task count (high 32 bits) with the
    // next unclaimed task (low 32 bits): one atomic add claims a task and says whether it
    // exists, whatever job a late thread thinks it is looking at.
    alignas(64) std::atomic<uint64_t> claims_{0};
    alignas(64) std::atomic<int64_t> n_finished_{0};    // tasks of the current job done
    alignas(64) std::atomic<uint32_t> job_counter_{0};  // bumped per job: wakes the workers
    alignas(64) std::atomic<bool> stopping_{false};

    std::mutex error_mutex_;
    std::exception_ptr first_error_;
};

}  // namespace tessera::backend::cpu
