// `tessera inspect FILE`: what a GGUF file holds, for people (a report) and machines (--json).
#include <algorithm>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>

#include "formats/gguf/file.h"
#include "tools/arg_parser.h"
#include "tools/commands.h"
#include "tools/format.h"

namespace tessera::tools {

namespace {

struct TypeTotals {
    uint64_t tensors = 0;
    uint64_t elements = 0;
    uint64_t bytes = 0;
};

struct Summary {
    std::string architecture;
    uint64_t n_params = 0;
    uint64_t n_bytes = 0;
    std::map<std::string, TypeTotals> by_type;
};

Summary summarize(const gguf::File& file) {
    Summary s;
    if (const gguf::Value* v = file.find("general.architecture");
        v != nullptr && v->type() == gguf::ValueType::STRING) {
        s.architecture = v->as_string("general.architecture");
    }
    for (const gguf::TensorInfo& t : file.tensors()) {
        s.n_params += t.n_elements;
        s.n_bytes += t.n_bytes;
        TypeTotals& totals = s.by_type[std::string(quant::type_info(t.type).name)];
        ++totals.tensors;
        totals.elements += t.n_elements;
        totals.bytes += t.n_bytes;
    }
    return s;
}

std::string shape_text(const std::vector<uint64_t>& shape) {
    std::string out;
    for (uint64_t d : shape) out += (out.empty() ? "" : " x ") + std::to_string(d);
    return out;
}

const gguf::Value* find_typed(const gguf::File& file, const std::string& key,
                              gguf::ValueType type) {
    const gguf::Value* v = file.find(key);
    return v != nullptr && v->type() == type ? v : nullptr;
}

// The token text for a special-token id key, when the vocabulary has it.
std::string token_text(const gguf::File& file, const std::string& id_key) {
    const gguf::Value* id = file.find(id_key);
    const gguf::Value* tokens = file.find("tokenizer.ggml.tokens");
    if (id == nullptr || !id->is_integer()) return "";
    const std::string id_text = id->to_string();
    if (tokens == nullptr || tokens->type() != gguf::ValueType::ARRAY ||
        tokens->element_type() != gguf::ValueType::STRING) {
        return id_text;
    }
    const auto& strings = tokens->as_string_array("tokenizer.ggml.tokens");
    const auto index = static_cast<uint64_t>(id->as_int(id_key));
    if (index >= strings.size()) return id_text + " (out of range)";
    return id_text + " " + gguf::Value::from_string(strings[index]).to_string();
}

void print_report(const gguf::File& file, bool show_all_metadata, bool show_tensors) {
    const Summary s = summarize(file);
    std::printf("file:          %s\n", file.path().c_str());
    std::printf("format:        GGUF v%u, %s, alignment %llu, %zu metadata keys, %zu tensors\n",
                file.version(), human_bytes(file.file_size()).c_str(),
                static_cast<unsigned long long>(file.alignment()), file.metadata().size(),
                file.tensors().size());
    if (const gguf::Value* name = find_typed(file, "general.name", gguf::ValueType::STRING)) {
        std::printf("name:          %s\n", name->as_string("general.name").c_str());
    }
    std::printf("architecture:  %s\n", s.architecture.empty() ? "(none)" : s.architecture.c_str());
    if (!s.architecture.empty()) {
        std::printf("\nhyper-parameters:\n");
        const std::string prefix = s.architecture + ".";
        for (const gguf::KeyValue& kv : file.metadata()) {
            if (kv.key.rfind(prefix, 0) == 0) {
                std::printf("  %-40s %s\n", kv.key.substr(prefix.size()).c_str(),
                            kv.value.to_string().c_str());
            }
        }
    }

    if (const gguf::Value* model =
            find_typed(file, "tokenizer.ggml.model", gguf::ValueType::STRING)) {
        std::printf("\ntokenizer:\n");
        std::printf("  %-40s %s\n", "model", model->as_string("").c_str());
        if (const gguf::Value* pre =
                find_typed(file, "tokenizer.ggml.pre", gguf::ValueType::STRING)) {
            std::printf("  %-40s %s\n", "pre-tokenizer", pre->as_string("").c_str());
        }
        if (const gguf::Value* tokens = file.find("tokenizer.ggml.tokens")) {
            std::printf("  %-40s %zu\n", "vocabulary", tokens->array_size());
        }
        if (const gguf::Value* merges = file.find("tokenizer.ggml.merges")) {
            std::printf("  %-40s %zu\n", "merges", merges->array_size());
        }
        for (const char* which : {"bos", "eos", "eot", "unknown", "padding"}) {
            const std::string key = std::string("tokenizer.ggml.") + which + "_token_id";
            if (file.find(key) != nullptr) {
                std::printf("  %-40s %s\n", (std::string(which) + " token").c_str(),
                            token_text(file, key).c_str());
            }
        }
        if (const gguf::Value* t =
                find_typed(file, "tokenizer.chat_template", gguf::ValueType::STRING)) {
            std::printf("  %-40s %zu characters\n", "chat template", t->as_string("").size());
        }
    }

    std::printf("\nmetadata:\n");
    for (const gguf::KeyValue& kv : file.metadata()) {
        const bool shown_above =
            (!s.architecture.empty() && kv.key.rfind(s.architecture + ".", 0) == 0) ||
            kv.key.rfind("tokenizer.", 0) == 0;
        if (shown_above && !show_all_metadata) continue;
        std::string type(gguf::value_type_name(kv.value.type()));
        if (kv.value.type() == gguf::ValueType::ARRAY) {
            type.append("[").append(gguf::value_type_name(kv.value.element_type())).append("]");
        }
        std::printf("  %-40s %-14s %s\n", kv.key.c_str(), type.c_str(),
                    kv.value.to_string().c_str());
    }
    if (!show_all_metadata)
        std::printf("  (--all shows the architecture and tokenizer keys too)\n");

    if (show_tensors && !file.tensors().empty()) {
        std::printf("\ntensors:\n  %-40s %-8s %-24s %12s\n", "name", "type", "shape", "bytes");
        for (const gguf::TensorInfo& t : file.tensors()) {
            std::printf("  %-40s %-8s %-24s %12s\n", t.name.c_str(),
                        std::string(quant::type_info(t.type).name).c_str(),
                        shape_text(t.shape).c_str(), human_bytes(t.n_bytes).c_str());
        }
    }

    if (!file.tensors().empty()) {
        std::printf("\nquantization mix:\n  %-8s %8s %16s %12s %7s %6s\n", "type", "tensors",
                    "parameters", "bytes", "bytes%", "bpw");
        for (const auto& [type, totals] : s.by_type) {
            std::printf(
                "  %-8s %8llu %16llu %12s %6.1f%% %6.2f\n", type.c_str(),
                static_cast<unsigned long long>(totals.tensors),
                static_cast<unsigned long long>(totals.elements), human_bytes(totals.bytes).c_str(),
                100.0 * static_cast<double>(totals.bytes) / static_cast<double>(s.n_bytes),
                8.0 * static_cast<double>(totals.bytes) / static_cast<double>(totals.elements));
        }
        std::printf(
            "\ntotal:         %s parameters (%llu), %s of tensor data, %.2f bits per weight\n",
            human_count(s.n_params).c_str(), static_cast<unsigned long long>(s.n_params),
            human_bytes(s.n_bytes).c_str(),
            8.0 * static_cast<double>(s.n_bytes) / static_cast<double>(s.n_params));
    }
}

nlohmann::ordered_json value_json(const gguf::Value& value) {
    switch (value.type()) {
        case gguf::ValueType::STRING:
            return value.as_string("");
        case gguf::ValueType::BOOL:
            return value.as_bool("");
        case gguf::ValueType::FLOAT32:
        case gguf::ValueType::FLOAT64:
            return value.as_float("");
        case gguf::ValueType::ARRAY: {
            nlohmann::ordered_json array = nlohmann::ordered_json::array();
            for (size_t i = 0; i < value.array_size(); ++i)
                array.push_back(value_json(value.element(i)));
            return array;
        }
        case gguf::ValueType::INT8:
        case gguf::ValueType::INT16:
        case gguf::ValueType::INT32:
        case gguf::ValueType::INT64:
            return value.as_int("");
        default:
            return value.raw_bits();
    }
}

void print_json(const gguf::File& file, bool full_arrays) {
    const Summary s = summarize(file);
    nlohmann::ordered_json out;
    out["file"] = file.path();
    out["gguf_version"] = file.version();
    out["file_bytes"] = file.file_size();
    out["alignment"] = file.alignment();
    out["architecture"] =
        s.architecture.empty() ? nlohmann::ordered_json() : nlohmann::ordered_json(s.architecture);
    nlohmann::ordered_json metadata = nlohmann::ordered_json::object();
    for (const gguf::KeyValue& kv : file.metadata()) {
        nlohmann::ordered_json entry;
        entry["type"] = gguf::value_type_name(kv.value.type());
        if (kv.value.type() == gguf::ValueType::ARRAY) {
            entry["element_type"] = gguf::value_type_name(kv.value.element_type());
            entry["length"] = kv.value.array_size();
            // Vocabularies run to hundreds of thousands of entries; they are left out unless
            // asked for.
            if (full_arrays || kv.value.array_size() <= 64) entry["value"] = value_json(kv.value);
        } else {
            entry["value"] = value_json(kv.value);
        }
        metadata[kv.key] = std::move(entry);
    }
    out["metadata"] = std::move(metadata);
    nlohmann::ordered_json tensors = nlohmann::ordered_json::array();
    for (const gguf::TensorInfo& t : file.tensors()) {
        tensors.push_back({{"name", t.name},
                           {"type", quant::type_info(t.type).name},
                           {"shape", t.shape},
                           {"offset", t.offset},
                           {"elements", t.n_elements},
                           {"bytes", t.n_bytes}});
    }
    out["tensors"] = std::move(tensors);
    nlohmann::ordered_json mix = nlohmann::ordered_json::object();
    for (const auto& [type, totals] : s.by_type) {
        mix[type] = {
            {"tensors", totals.tensors}, {"elements", totals.elements}, {"bytes", totals.bytes}};
    }
    out["quantization_mix"] = std::move(mix);
    out["total_parameters"] = s.n_params;
    out["total_tensor_bytes"] = s.n_bytes;
    out["bits_per_weight"] =
        s.n_params == 0 ? 0.0
                        : 8.0 * static_cast<double>(s.n_bytes) / static_cast<double>(s.n_params);
    std::printf("%s\n",
                out.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace).c_str());
}

}  // namespace

int run_inspect(const Args& args) {
    std::string path, model;
    bool json = false, all = false, no_tensors = false, full_arrays = false;
    ArgParser parser("tessera inspect",
                     "Show a GGUF file's architecture and hyper-parameters, a "
                     "tokenizer summary, its tensors and quantization mix.\n"
                     "With no FILE, inspects the default model.");
    parser.positional("FILE", &path, "the GGUF file (default: the default model)", false);
    parser.option("-m, --model", &model, "FILE", "the GGUF file (same as FILE)");
    parser.flag("--json", &json, "print one JSON object instead of the report");
    parser.flag("--all", &all, "list every metadata key, the architecture's and tokenizer's too");
    parser.flag("--no-tensors", &no_tensors, "leave out the tensor table");
    parser.flag("--full-arrays", &full_arrays, "with --json, include long arrays (vocabularies)");
    if (!parser.parse(args)) return 0;
    if (!path.empty() && !model.empty()) throw UsageError("give the file once, as FILE or -m");
    const gguf::File file = gguf::File::open(model_or_default(path.empty() ? model : path));
    if (json) {
        print_json(file, full_arrays);
    } else {
        print_report(file, all, !no_tensors);
    }
    return 0;
}

}  // namespace tessera::tools
