/** A one-line progress bar on stderr: step, loss, tokens/s and ETA (a line per 10% when not a terminal). */
import type { StepReport } from '../../shared/train/trainer';

export class Progress {
  private readonly start = Date.now();
  private tokens = 0;
  private lastLine = -1;

  constructor(
    private readonly total: number,
    private readonly firstStep = 0,
  ) {}

  update(r: StepReport, valLoss?: number): void {
    this.tokens += r.tokens;
    const elapsed = (Date.now() - this.start) / 1000;
    const eta = (elapsed / (r.step - this.firstStep)) * (this.total - r.step);
    const width = 24;
    const filled = Math.round((width * r.step) / this.total);
    const line = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] step ${r.step}/${this.total}  loss ${r.loss.toFixed(4)}${valLoss === undefined ? '' : `  val ${valLoss.toFixed(4)}`}  lr ${r.lr.toExponential(2)}  ${(this.tokens / elapsed).toFixed(0)} tok/s  ETA ${Math.ceil(eta)}s`;
    if (process.stderr.isTTY) {
      process.stderr.write(`\r${line}`);
    } else {
      const tenth = Math.floor((10 * r.step) / this.total);
      if (tenth !== this.lastLine || valLoss !== undefined) process.stderr.write(`${line}\n`);
      this.lastLine = tenth;
    }
  }

  done(): void {
    if (process.stderr.isTTY) process.stderr.write('\n');
  }
}
