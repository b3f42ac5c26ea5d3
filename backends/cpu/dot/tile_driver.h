// Walks a DotKernel's rows and columns in the register tiles of a SIMD kernel.
//
// A tile kernel is a type with
//   static constexpr int kBlockElements;          // elements per weight block
//   static constexpr uint64_t kWeightBlockBytes;  // bytes per weight block
//   static constexpr uint64_t kActivationBlockBytes;
//   template <int kRows, int kColumns>
//   static void tile(int64_t n_blocks, const uint8_t* const* rows, const uint8_t* const* columns,
//                    float* sums);  // sums[r * kColumns + c] = dot(rows[r], columns[c])
// whose arithmetic for one (row, column) pair does not depend on kRows and kColumns: then every
// result is the same whichever tile computed it, so dot_tile equals dot_rows bit for bit and no
// result depends on how a caller splits the rows among threads.
//
// Everything here has internal linkage (an anonymous namespace in a header): each *_avx2.cpp or
// *_avx512.cpp file that includes it gets its own copy, compiled for its instruction set, which
// the linker never merges with another file's.
#pragma once

#include <cstdint>

namespace tessera::backend::cpu {
namespace {

template <typename Kernel, int kRows, int kColumns>
void run_tile(int64_t n_blocks, const uint8_t* const* rows, const uint8_t* const* columns,
              float* out, int64_t out_column_stride) {
    float sums[kRows * kColumns];
    Kernel::template tile<kRows, kColumns>(n_blocks, rows, columns, sums);
    for (int r = 0; r < kRows; ++r) {
        for (int c = 0; c < kColumns; ++c) out[c * out_column_stride + r] = sums[r * kColumns + c];
    }
}

// Dispatches a partial tile (rows <= kMaxRows, columns <= kMaxColumns) to its instantiation.
template <typename Kernel, int kMaxRows, int kMaxColumns, int kRows = kMaxRows,
          int kColumns = kMaxColumns>
void run_partial_tile(int rows, int columns, int64_t n_blocks, const uint8_t* const* row_ptrs,
                      const uint8_t* const* column_ptrs, float* out, int64_t out_column_stride) {
    if constexpr (kRows > 1) {
        if (rows < kRows) {
            run_partial_tile<Kernel, kMaxRows, kMaxColumns, kRows - 1, kColumns>(
                rows, columns, n_blocks, row_ptrs, column_ptrs, out, out_column_stride);
            return;
        }
    }
    if constexpr (kColumns > 1) {
        if (columns < kColumns) {
            run_partial_tile<Kernel, kMaxRows, kMaxColumns, kRows, kColumns - 1>(
                rows, columns, n_blocks, row_ptrs, column_ptrs, out, out_column_stride);
            return;
        }
    }
    run_tile<Kernel, kRows, kColumns>(n_blocks, row_ptrs, column_ptrs, out, out_column_stride);
}

// DotKernel::dot_tile. Columns are taken kMaxColumns at a time, and for each such group every
// row kMaxRows at a time: the group's activations stay in the L1 cache while the weights stream
// past, so a caller keeps n_rows * weight_row_bytes within the L2 cache for prompt batches.
template <typename Kernel, int kMaxRows, int kMaxColumns>
void dot_tile(int64_t n, const void* weights, uint64_t weight_row_bytes, int64_t n_rows,
              const void* activations, uint64_t activation_row_bytes, int64_t n_columns, float* out,
              int64_t out_column_stride) {
    const int64_t n_blocks = n / Kernel::kBlockElements;
    const auto* weight_bytes = static_cast<const uint8_t*>(weights);
    const auto* activation_bytes = static_cast<const uint8_t*>(activations);
    for (int64_t c0 = 0; c0 < n_columns; c0 += kMaxColumns) {
        const int columns =
            static_cast<int>(n_columns - c0 < kMaxColumns ? n_columns - c0 : kMaxColumns);
        const uint8_t* column_ptrs[kMaxColumns];
        for (int c = 0; c < columns; ++c) {
            column_ptrs[c] =
                activation_bytes + static_cast<uint64_t>(c0 + c) * activation_row_bytes;
        }
        for (int64_t r0 = 0; r0 < n_rows; r0 += kMaxRows) {
            const int rows = static_cast<int>(n_rows - r0 < kMaxRows ? n_rows - r0 : kMaxRows);
            const uint8_t* row_ptrs[kMaxRows];
            for (int r = 0; r < rows; ++r) {
                row_ptrs[r] = weight_bytes + static_cast<uint64_t>(r0 + r) * weight_row_bytes;
            }
            run_partial_tile<Kernel, kMaxRows, kMaxColumns>(
                rows, columns, n_blocks, row_ptrs, column_ptrs, out + c0 * out_column_stride + r0,
                out_column_stride);
        }
    }
}

// DotKernel::dot_rows: the tile walk with a single column.
template <typename Kernel, int kMaxRows>
void dot_rows(int64_t n, const void* weights, uint64_t weight_row_bytes, int64_t n_rows,
              const void* activations, float* out) {
    dot_tile<Kernel, kMaxRows, 1>(n, weights, weight_row_bytes, n_rows, activations, 0, 1, out, 0);
}

}  // namespace
}  // namespace tessera::backend::cpu
