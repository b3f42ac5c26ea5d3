// GET_ROWS: dst[k, m] = rows ids[m] of a table of any type with a codec, one thread per output
// element. An id outside the table flags the node's error slot (with the lowest such index) and
// leaves zeros in its row; the queue reports it at wait().
#version 450
#include "common.glsl"
#include "numerics.glsl"
#include "quant.glsl"

layout(push_constant, std430) uniform Parameters {
    uvec2 table;
    uint table_offset;  // bytes past the table's word address
    uvec2 ids;
    uvec2 dst;
    uvec2 error_slot;
    uint row_length;
    uint row_bytes;
    uint n_table_rows;
    uint n_ids;
} p;

void main() {
    const uint index = group_number() * WORKGROUP_SIZE + gl_LocalInvocationID.x;
    if (index >= p.n_ids * p.row_length) return;
    const uint row = index / p.row_length;
    const uint element = index % p.row_length;
    const int id = Ints(p.ids).value[row];
    Floats dst = Floats(p.dst);
    if (id < 0 || uint(id) >= p.n_table_rows) {
        if (element == 0u) {
            ErrorSlot slot = ErrorSlot(p.error_slot);
            atomicOr(slot.flagged, 1u);
            atomicMin(slot.first_index, row);
        }
        dst.value[index] = 0.0;
        return;
    }
    const uint block = p.table_offset + uint(id) * p.row_bytes +
                       (element / BLOCK_ELEMENTS) * BLOCK_BYTES;
    dst.value[index] = dequantize(Words(p.table), block, element % BLOCK_ELEMENTS);
}
