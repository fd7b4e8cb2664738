// Embedding lookup: out[r, i] = table[ids[r], i]       table [tableRows, dim], ids [rows], out [rows, dim]
// An id outside [0, tableRows) gives a zero row (the host checks ids before upload; this only
// keeps a bad id from reading another row).
//
// Thread mapping: one invocation per output element e = r·dim + i = (workgroup_id.x +
// workgroup_id.y · num_workgroups.x) · WG + local index; neighbouring invocations copy
// neighbouring elements of one row.

struct Params {
  rows: u32,
  dim: u32,
  table_rows: u32,
}

const WG = 64u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> table: array<f32>;
@group(0) @binding(2) var<storage, read> ids: array<u32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) groups: vec3u, @builtin(local_invocation_index) t: u32) {
  let e = (wid.x + wid.y * groups.x) * WG + t;
  if (e >= p.rows * p.dim) {
    return;
  }
  let id = ids[e / p.dim];
  out[e] = select(0.0, table[id * p.dim + e % p.dim], id < p.table_rows);
}
