// The pre-tokenizer of byte-level BPE vocabularies: the regular expressions that cut text into
// words before merges are applied, chosen by tokenizer.ggml.pre. The patterns are the ones the
// models' own tokenizer.json files give, run with PCRE2 (UTF and UCP mode, JIT-compiled).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace tessera {

class PreTokenizer {
  public:
    // Throws tessera::Error listing the supported names for an unknown one.
    static PreTokenizer for_name(std::string_view pre);
    // The names for_name() accepts.
    static std::vector<std::string_view> supported_names();

    PreTokenizer(PreTokenizer&&) noexcept;
    PreTokenizer& operator=(PreTokenizer&&) noexcept;
    ~PreTokenizer();

    // The words of `text`, in order; their concatenation is `text`. Invalid UTF-8 is not an
    // error: such bytes become words of their own.
    std::vector<std::string_view> split(std::string_view text) const;

  private:
    struct Impl;
    explicit PreTokenizer(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace tessera
