#include "backends/cpu/thread_pool.h"

#include <algorithm>
#include <limits>

#include "formats/error.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace tessera::backend::cpu {

namespace {

// How long a thread polls before it sleeps: first a busy spin of PAUSE (tens of microseconds,
// enough to cover the gap between two ops of one run, since the next op is launched at once),
// then a while of yielding, which hands the core to any other runnable thread on a busy
// machine, then a futex sleep.
constexpr int kPauseIterations = 1 << 11;
constexpr int kYieldIterations = 1 << 6;

void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
    _mm_pause();
#else
    std::this_thread::yield();
#endif
}

constexpr uint64_t kTaskMask = 0xffffffffu;

// Polls `value` until `done(current)` is true: spinning, then yielding, then sleeping on it.
template <class T, class Done>
T await(const std::atomic<T>& value, Done done) {
    T current = value.load(std::memory_order_acquire);
    for (int i = 0; !done(current) && i < kPauseIterations; ++i) {
        cpu_relax();
        current = value.load(std::memory_order_acquire);
    }
    for (int i = 0; !done(current) && i < kYieldIterations; ++i) {
        std::this_thread::yield();
        current = value.load(std::memory_order_acquire);
    }
    while (!done(current)) {
        value.wait(current, std::memory_order_acquire);
        current = value.load(std::memory_order_acquire);
    }
    return current;
}

}  // namespace

ThreadPool::ThreadPool(int n_threads) {
    if (n_threads <= 0) {
        n_threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    }
    n_threads_ = n_threads;
    workers_.reserve(static_cast<size_t>(n_threads_ - 1));
    for (int thread = 1; thread < n_threads_; ++thread) {
        workers_.emplace_back([this, thread] { worker_main(thread); });
    }
}

ThreadPool::~ThreadPool() {
    stopping_.store(true, std::memory_order_release);
    job_counter_.fetch_add(1, std::memory_order_release);
    job_counter_.notify_all();
    for (std::thread& worker : workers_) worker.join();
}

void ThreadPool::record_error(std::exception_ptr error) {
    const std::lock_guard lock(error_mutex_);
    if (!first_error_) first_error_ = std::move(error);
}

void ThreadPool::run_tasks(int thread) {
    int64_t n_done = 0;
    int64_t n_tasks = 0;
    for (;;) {
        const uint64_t claim = claims_.fetch_add(1, std::memory_order_acquire);
        const auto task = static_cast<int64_t>(claim & kTaskMask);
        n_tasks = static_cast<int64_t>(claim >> 32);
        if (task >= n_tasks) break;
        try {
            function_(callable_, task, thread);
        } catch (...) {
            record_error(std::current_exception());
        }
        ++n_done;
    }
    if (n_done == 0) return;
    // The thread that finishes the job's last task wakes thread 0 if it sleeps.
    if (n_finished_.fetch_add(n_done, std::memory_order_acq_rel) + n_done == n_tasks) {
        n_finished_.notify_one();
    }
}

void ThreadPool::run(int64_t n_tasks, TaskFunction function, void* callable) {
    if (n_tasks <= 0) return;
    // One task, or no workers: nothing to hand out.
    if (n_tasks == 1 || workers_.empty()) {
        std::exception_ptr error;
        for (int64_t task = 0; task < n_tasks; ++task) {
            try {
                function(callable, task, 0);
            } catch (...) {
                if (!error) error = std::current_exception();
            }
        }
        if (error) std::rethrow_exception(error);
        return;
    }
    if (n_tasks > std::numeric_limits<int32_t>::max()) {
        throw Error("thread pool: " + std::to_string(n_tasks) + " tasks in one job is too many");
    }

    function_ = function;
    callable_ = callable;
    first_error_ = nullptr;
    n_finished_.store(0, std::memory_order_relaxed);
    // The release publishes the job's fields to every thread whose claim reads this value.
    claims_.store(static_cast<uint64_t>(n_tasks) << 32, std::memory_order_release);
    job_counter_.fetch_add(1, std::memory_order_release);
    job_counter_.notify_all();  // a no-op unless some worker sleeps

    run_tasks(0);
    await(n_finished_, [n_tasks](int64_t finished) { return finished == n_tasks; });

    if (first_error_) {
        std::exception_ptr error = std::move(first_error_);
        first_error_ = nullptr;
        std::rethrow_exception(error);
    }
}

void ThreadPool::worker_main(int thread) {
    uint32_t seen = 0;
    for (;;) {
        seen = await(job_counter_, [seen](uint32_t counter) { return counter != seen; });
        if (stopping_.load(std::memory_order_acquire)) return;
        run_tasks(thread);
    }
}

}  // namespace tessera::backend::cpu
