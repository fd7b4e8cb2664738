/**
 * V8 flags for the processes that run the engine or a training job: the server, `symbiosis
 * train`, and both kinds of `bench finetune` job. V8 reads them at start-up only, so they go on
 * the command line of the processes we spawn, and `serve` and `train` started without them run
 * themselves again with them (relaunch.ts, from cli/index.ts). Setting them from inside
 * (v8.setFlagsFromString) is not safe: tried with --single-threaded-gc, V8 aborted on a failed
 * check in its next marking cycle.
 *
 * --no-concurrent-marking: the engine's activations are ArrayBuffers — ~5 MB per training token
 * at 110m — and V8 starts a marking cycle each time ~64 MB more of them are alive. Marked
 * concurrently, those cycles (~10 a second; the heap itself is ~50 MB) kept four helper threads
 * 0.45 cores busy in the bench's training server, on a 2-core machine whose main thread and
 * tenants needed them. Marked incrementally on the main thread instead (bench finetune, 8 jobs,
 * 110m, 2 cores): shared 122–136 → 152–164 tokens/s, dedicated 163–166 → 197–203, 3+ runs each;
 * decode (bench serve) changed within noise. --single-threaded-gc measured the same. The tenants'
 * processes gain too: bench finetune's shared setup with only its clients left without the flag
 * 188 / 194 tokens/s, with it 204 / 209.
 */
export const ENGINE_NODE_FLAGS: readonly string[] = ['--no-concurrent-marking'];

/** Whether this process runs with every engine flag. */
export function hasEngineFlags(): boolean {
  return ENGINE_NODE_FLAGS.every((flag) => process.execArgv.includes(flag));
}
