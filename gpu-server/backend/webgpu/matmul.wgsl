// Forward of a frozen weight group for a batch of rows:
//   y[r, o] = Σ_k x[r, k] · W[o, k] + b[o]        x [rows, in], W [out, in] as stored, y [rows, out]
// (b is a zero vector for groups without a bias, so the sum is the same code path for all.)
//
// Thread mapping: a TILE×TILE workgroup computes the output tile rows [row0, row0 + TILE) ×
// outputs [o0, o0 + TILE), with row0 = workgroup_id.y·TILE and o0 = workgroup_id.x·TILE;
// thread (lx, ly) owns y[row0 + ly, o0 + lx]. The k axis is walked TILE at a time: each thread
// loads one element of the x tile (xs[ly][lx] = x[row0 + ly, k0 + lx]) and one of the W tile
// (ws[ly][lx] = W[o0 + ly, k0 + lx]) into workgroup memory — both reads run along k, contiguous
// in memory —, then adds TILE products read from workgroup memory. Out-of-range elements load
// as 0, so ragged edges need no special case. Accumulation is f32; W may be stored as f16.
// A group too large for one storage binding is split by output rows into chunks, one buffer
// and one dispatch each: y_offset and y_stride place a chunk's outputs within the group's.

alias weight_t = f32;

struct Params {
  rows: u32,
  in_dim: u32,
  out_dim: u32, // this chunk's outputs (rows of W in this buffer)
  y_stride: u32, // the whole group's outputs: the row stride of y (or dy)
  y_offset: u32, // this chunk's first output within the group
  accumulate: u32, // backward: 1 adds into dx (a later chunk), 0 writes it
  _pad0: u32,
  _pad1: u32,
}

const TILE = 16u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> w: array<weight_t>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read> x: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

var<workgroup> xs: array<array<f32, TILE>, TILE>;
var<workgroup> ws: array<array<f32, TILE>, TILE>;

@compute @workgroup_size(TILE, TILE)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let row0 = wid.y * TILE;
  let o0 = wid.x * TILE;
  let row = row0 + lid.y;
  let o = o0 + lid.x;
  let w_row = o0 + lid.y;
  var acc = 0.0;
  for (var k0 = 0u; k0 < p.in_dim; k0 += TILE) {
    let k = k0 + lid.x;
    var xv = 0.0;
    if (row < p.rows && k < p.in_dim) {
      xv = x[row * p.in_dim + k];
    }
    var wv = 0.0;
    if (w_row < p.out_dim && k < p.in_dim) {
      wv = f32(w[w_row * p.in_dim + k]);
    }
    xs[lid.y][lid.x] = xv;
    ws[lid.y][lid.x] = wv;
    workgroupBarrier();
    for (var j = 0u; j < TILE; j++) {
      acc += xs[lid.y][j] * ws[lid.x][j];
    }
    workgroupBarrier();
  }
  if (row < p.rows && o < p.out_dim) {
    y[row * p.y_stride + p.y_offset + o] = acc + bias[o];
  }
}
