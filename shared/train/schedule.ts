/**
 * Learning rate at an optimizer step (0-based): linear warm-up from 0 to `lr` over
 * `warmupSteps`, then cosine decay to `lr · minRatio` at `totalSteps` (as transformers'
 * get_cosine_schedule_with_warmup, with a floor).
 */
export interface Schedule {
  lr: number;
  warmupSteps: number;
  totalSteps: number;
  minRatio: number;
}

export function learningRate(step: number, s: Schedule): number {
  if (step < s.warmupSteps) return (s.lr * (step + 1)) / s.warmupSteps;
  const decaySteps = Math.max(1, s.totalSteps - s.warmupSteps);
  const progress = Math.min(1, (step - s.warmupSteps) / decaySteps);
  const cosine = 0.5 * (1 + Math.cos(Math.PI * progress));
  return s.lr * (s.minRatio + (1 - s.minRatio) * cosine);
}
