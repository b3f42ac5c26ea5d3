#include "backends/cpu/cpu_queue.h"

#include <new>

#include "formats/error.h"

namespace tessera::backend::cpu {

namespace {

constexpr std::align_val_t kScratchAlignment{64};

}  // namespace

void CpuQueue::AlignedFree::operator()(uint8_t* bytes) const {
    ::operator delete(bytes, kScratchAlignment);
}

CpuQueue::CpuQueue(const QueueOptions& options)
    : pool_(options.n_threads), runner_([this] { runner_main(); }) {}

CpuQueue::~CpuQueue() {
    {
        const std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    work_ready_.notify_one();
    runner_.join();
}

void CpuQueue::submit(Executable& executable, const StepValues& step) {
    const auto* cpu_executable = dynamic_cast<const CpuExecutable*>(&executable);
    if (cpu_executable == nullptr) {
        throw Error("cpu queue: the executable was compiled by another backend's device");
    }
    {
        const std::lock_guard lock(mutex_);
        runs_.push_back({cpu_executable, step});
    }
    work_ready_.notify_one();
}

void CpuQueue::wait() {
    std::unique_lock lock(mutex_);
    queue_drained_.wait(lock, [this] { return runs_.empty(); });
    if (error_) {
        std::exception_ptr error = std::move(error_);
        error_ = nullptr;
        std::rethrow_exception(error);
    }
}

uint8_t* CpuQueue::scratch(uint64_t bytes) {
    if (bytes > scratch_bytes_) {
        scratch_.reset();
        auto* memory =
            static_cast<uint8_t*>(::operator new(bytes, kScratchAlignment, std::nothrow));
        if (memory == nullptr) {
            scratch_bytes_ = 0;
            throw Error("cpu queue: cannot allocate " + std::to_string(bytes) +
                        " bytes of scratch memory for the run");
        }
        scratch_.reset(memory);
        scratch_bytes_ = bytes;
    }
    return scratch_.get();
}

void CpuQueue::execute(const Run& run) {
    run.executable->check_step(run.step);
    uint8_t* memory = scratch(run.executable->scratch_bytes(pool_.n_threads()));
    run.executable->run(pool_, run.step, memory);
}

void CpuQueue::runner_main() {
    for (;;) {
        Run run{};
        bool skip = false;
        {
            std::unique_lock lock(mutex_);
            work_ready_.wait(lock, [this] { return stopping_ || !runs_.empty(); });
            if (runs_.empty()) return;  // stopping, and everything submitted has run
            run = runs_.front();
            skip = error_ != nullptr;
        }
        std::exception_ptr error;
        if (!skip) {
            try {
                execute(run);
            } catch (...) {
                error = std::current_exception();
            }
        }
        {
            const std::lock_guard lock(mutex_);
            if (error && !error_) error_ = error;
            runs_.pop_front();
            if (runs_.empty()) queue_drained_.notify_all();
        }
    }
}

}  // namespace tessera::backend::cpu
