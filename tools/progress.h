// A progress bar on stderr for long work. On a terminal it redraws one line; otherwise it
// prints nothing, so logs and pipes stay clean.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace tessera::tools {

class Progress {
  public:
    explicit Progress(std::string label);
    ~Progress();  // ends the line if one was drawn
    void update(uint64_t done, uint64_t total);
    void set_label(std::string label);

  private:
    std::string label_;
    bool enabled_;
    bool drawn_ = false;
    int last_permille_ = -1;
    std::chrono::steady_clock::time_point start_;
};

}  // namespace tessera::tools
