#include "tools/progress.h"

#include <unistd.h>

#include <cstdio>

namespace tessera::tools {

Progress::Progress(std::string label)
    : label_(std::move(label)),
      enabled_(::isatty(STDERR_FILENO) != 0),
      start_(std::chrono::steady_clock::now()) {}

Progress::~Progress() {
    if (drawn_) std::fputc('\n', stderr);
}

void Progress::set_label(std::string label) {
    label_ = std::move(label);
    last_permille_ = -1;
}

void Progress::update(uint64_t done, uint64_t total) {
    if (!enabled_ || total == 0) return;
    const int permille = static_cast<int>(done * 1000 / total);
    if (permille == last_permille_) return;
    last_permille_ = permille;
    constexpr int kWidth = 30;
    const int filled = permille * kWidth / 1000;
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    std::string bar(static_cast<size_t>(filled), '#');
    bar.append(static_cast<size_t>(kWidth - filled), '.');
    std::fprintf(stderr, "\r\033[K%s [%s] %5.1f%% %6.1fs", label_.c_str(), bar.c_str(),
                 permille / 10.0, seconds);
    std::fflush(stderr);
    drawn_ = true;
}

}  // namespace tessera::tools
