/**
 * V8 flags for the processes that run the engine or a training job: the server, `symbiosis
 * train`, the benches, both kinds of `bench finetune` job and bench serve's tenants' process.
 * V8 reads them at start-up only, so they go on the command line of the processes we spawn, and
 * serve, train and bench started without them run themselves again with them (relaunch.ts, from
 * cli/index.ts). Setting them from inside (v8.setFlagsFromString) is not safe: tried with
 * --single-threaded-gc, V8 aborted on a failed check in its next marking cycle.
 *
 * --no-concurrent-marking: the engine's activations are ArrayBuffers — ~5 MB per training token
 * at 110m — and V8 starts a marking cycle each time ~64 MB more of them are alive. Marked
 * concurrently, those cycles (~10 a second; the heap itself is ~50 MB) kept four helper threads
 * 0.45 cores busy in the bench's training server, on a 2-core machine whose main thread and
 * tenants needed them. Marked incrementally on the main thread instead (bench finetune, 8 jobs,
 * 110m, 2 cores): shared 122–136 → 152–164 tokens/s, dedicated 163–166 → 197–203, 3+ runs each;
 * decode (bench serve) changed within noise. --single-threaded-gc measured the same. The tenants'
 * processes gain too: bench finetune's shared setup with only its clients left without the flag
 * 188 / 194 tokens/s, with it 204 / 209; bench serve's tenants' process (cli/bench/tenant-process.ts),
 * 32 LoRA sessions, three alternating pairs each of two runs: 1038 / 1022 / 949 and 904 / 864 /
 * 970 tokens/s without both flags, 1063 / 1104 / 1098 and 1080 / 1073 / 1186 with them (its CPU
 * 0.39–0.51 → 0.34–0.37 cores); base sessions the same within noise.
 *
 * --initial-old-space-size=96: with the activations pooled (gpu-server/backend/host-pool.ts) the
 * marking cycles were still ~7 a second, now started by the old generation's limit: V8 sets it at
 * ~2.5× the live heap (15 MB live → 38 MB), while scavenges that external memory pressure brings
 * early promote the objects a step keeps across a few of them (promises, frames, tensors' wrappers)
 * — so the limit was reached again within ~150 ms. A floor under that limit leaves the cycles that
 * external memory starts (~2.5 a second). Shared setup of bench finetune (8 jobs, 110m, 2 cores, 6
 * steps, pool in place), without → with a 256 MB floor: server GC 1.76–1.87 → 0.90 s, clients
 * 0.82 → 0.65 cores, 207 / 209 → 230 / 241 tokens/s (a later 256 MB run: 0.96 s, 215); a 96 MB
 * floor the same (0.90 s, 0.65 cores, 240) with less room for garbage. The server's peak RSS is
 * unchanged (1.52–1.57 GB); the clients' grow ~20 MB each (fewer cycles, more garbage between
 * them).
 */
export const ENGINE_NODE_FLAGS: readonly string[] = ['--no-concurrent-marking', '--initial-old-space-size=96'];

/** Whether this process runs with every engine flag. */
export function hasEngineFlags(): boolean {
  return ENGINE_NODE_FLAGS.every((flag) => process.execArgv.includes(flag));
}
