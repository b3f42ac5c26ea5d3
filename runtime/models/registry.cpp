#include "runtime/models/registry.h"

namespace tessera {

std::span<const Architecture> architectures() {
    // Pointers, not copies: each definition lives in its own translation unit, and copying
    // them into a static array here would depend on the order of static initialisation.
    static const Architecture* const kAll[] = {
        &kGemma3Architecture,
        &kLlamaArchitecture,
        &kQwen2Architecture,
        &kQwen3Architecture,
    };
    static const std::vector<Architecture> kTable = [] {
        std::vector<Architecture> table;
        for (const Architecture* architecture : kAll) table.push_back(*architecture);
        return table;
    }();
    return kTable;
}

const Architecture* find_architecture(std::string_view name) {
    for (const Architecture& architecture : architectures()) {
        if (architecture.name == name) return &architecture;
    }
    return nullptr;
}

std::string supported_architectures() {
    std::string names;
    for (const Architecture& architecture : architectures()) {
        if (!names.empty()) names += ", ";
        names += architecture.name;
    }
    return names;
}

}  // namespace tessera
