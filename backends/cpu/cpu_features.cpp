#include "backends/cpu/cpu_features.h"

#include <cstdint>
#include <cstdlib>
#include <string_view>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif
#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif

// A feature counts only when the CPU lists it (CPUID) *and* the OS saves its register state on
// context switches (XCR0, read with XGETBV once CPUID says OSXSAVE is on): an OS that does not
// enable the AVX-512 state makes every AVX-512 instruction fault although CPUID lists it. AMX
// tile data is further gated on Linux by a per-process permission (XFD): the bits are set in
// XCR0, yet the first tile instruction raises SIGILL unless the process asked for the state
// with arch_prctl(ARCH_REQ_XCOMP_PERM). So amx_int8 is reported only after that request was
// granted and ARCH_GET_XCOMP_PERM confirms it.

namespace tessera::backend::cpu {

namespace {

#if defined(__x86_64__) || defined(__i386__)

struct CpuidRegisters {
    uint32_t eax = 0, ebx = 0, ecx = 0, edx = 0;
};

CpuidRegisters cpuid(uint32_t leaf, uint32_t subleaf) {
    CpuidRegisters r;
    __cpuid_count(leaf, subleaf, r.eax, r.ebx, r.ecx, r.edx);
    return r;
}

bool bit(uint32_t value, int index) {
    return ((value >> index) & 1u) != 0;
}

// XCR0: the register states the OS enabled. Only called when CPUID reports OSXSAVE, without
// which XGETBV itself is an invalid instruction. Inline assembly rather than _xgetbv() so that
// this portable file needs no -mxsave.
uint64_t read_xcr0() {
    uint32_t eax = 0, edx = 0;
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0u));
    return (static_cast<uint64_t>(edx) << 32) | eax;
}

// XCR0 bits.
constexpr uint64_t kXcr0Sse = 1u << 1;
constexpr uint64_t kXcr0Avx = 1u << 2;
constexpr uint64_t kXcr0Opmask = 1u << 5;
constexpr uint64_t kXcr0ZmmHigh256 = 1u << 6;
constexpr uint64_t kXcr0HighZmm = 1u << 7;
constexpr uint64_t kXcr0TileConfig = 1u << 17;
constexpr uint64_t kXcr0TileData = 1u << 18;

// Asks Linux for permission to use the AMX tile data state, then reads the permissions back:
// true only when the tile data bit is granted. Any failure (an old kernel without the call, a
// seccomp filter, a hypervisor without AMX) is a plain false.
bool request_amx_tile_permission() {
#if defined(__linux__) && defined(__x86_64__)
    constexpr long kArchGetXcompPerm = 0x1022;
    constexpr long kArchReqXcompPerm = 0x1023;
    constexpr unsigned long kXfeatureXtileData = 18;
    if (syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtileData) != 0) return false;
    unsigned long permitted = 0;
    if (syscall(SYS_arch_prctl, kArchGetXcompPerm, &permitted) != 0) return false;
    return ((permitted >> kXfeatureXtileData) & 1u) != 0;
#else
    return false;  // other systems: no known way to ask, so no AMX
#endif
}

CpuFeatures detect_x86() {
    CpuFeatures features;
    const uint32_t max_leaf = cpuid(0, 0).eax;
    if (max_leaf < 7) return features;

    const CpuidRegisters leaf1 = cpuid(1, 0);
    const bool osxsave = bit(leaf1.ecx, 27);
    const bool avx = bit(leaf1.ecx, 28);
    const bool fma = bit(leaf1.ecx, 12);
    const bool f16c = bit(leaf1.ecx, 29);
    if (!osxsave || !avx) return features;  // no AVX state at all: scalar only

    const uint64_t xcr0 = read_xcr0();
    const bool os_avx = (xcr0 & (kXcr0Sse | kXcr0Avx)) == (kXcr0Sse | kXcr0Avx);
    const uint64_t zmm_state = kXcr0Opmask | kXcr0ZmmHigh256 | kXcr0HighZmm;
    const bool os_avx512 = os_avx && (xcr0 & zmm_state) == zmm_state;
    const uint64_t tile_state = kXcr0TileConfig | kXcr0TileData;
    const bool os_amx = (xcr0 & tile_state) == tile_state;

    const CpuidRegisters leaf7 = cpuid(7, 0);
    const bool avx2 = bit(leaf7.ebx, 5);
    const bool avx512f = bit(leaf7.ebx, 16);
    const bool avx512dq = bit(leaf7.ebx, 17);
    const bool avx512bw = bit(leaf7.ebx, 30);
    const bool avx512vl = bit(leaf7.ebx, 31);
    const bool avx512_vnni = bit(leaf7.ecx, 11);
    const bool amx_tile = bit(leaf7.edx, 24);
    const bool amx_int8 = bit(leaf7.edx, 25);
    const bool avx_vnni = leaf7.eax >= 1 && bit(cpuid(7, 1).eax, 4);

    // Each level includes the ones below it, so that a kernel may use any of them.
    features.avx2 = os_avx && avx2 && fma && f16c;
    features.avx512 = features.avx2 && os_avx512 && avx512f && avx512dq && avx512bw && avx512vl;
    features.avx512_vnni = features.avx512 && avx512_vnni;
    features.avx_vnni = features.avx2 && avx_vnni;
    features.amx_int8 = os_amx && amx_tile && amx_int8 && request_amx_tile_permission();
    return features;
}

#endif

bool scalar_forced_by_environment() {
    const char* value = std::getenv("TESSERA_CPU_SCALAR");
    if (value == nullptr) return false;
    const std::string_view text(value);
    return !text.empty() && text != "0";
}

}  // namespace

std::string CpuFeatures::describe() const {
    std::string text;
    const auto add = [&text](bool present, const char* name) {
        if (!present) return;
        if (!text.empty()) text += ' ';
        text += name;
    };
    if (!scalar_only) {
        add(avx2, "avx2");
        add(avx512, "avx512");
        add(avx512_vnni, "avx512_vnni");
        add(avx_vnni, "avx_vnni");
        add(amx_int8, "amx_int8");
    }
    return text.empty() ? "scalar" : text;
}

CpuFeatures detect_cpu_features() {
    if (scalar_forced_by_environment()) return scalar_cpu_features();
#if defined(__x86_64__) || defined(__i386__)
    return detect_x86();
#else
    return CpuFeatures{};
#endif
}

CpuFeatures scalar_cpu_features() {
    CpuFeatures features;
    features.scalar_only = true;
    return features;
}

}  // namespace tessera::backend::cpu
