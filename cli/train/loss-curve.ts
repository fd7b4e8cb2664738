/** The loss curve as a small standalone SVG image (training loss, and validation loss where measured). */
export interface LossPoint {
  step: number;
  loss: number;
  valLoss?: number;
}

const W = 640;
const H = 360;
const PAD = 48;

export function lossCurveSvg(points: LossPoint[], title: string): string {
  const losses = points.flatMap((p) => (p.valLoss === undefined ? [p.loss] : [p.loss, p.valLoss]));
  const [lo, hi] = [Math.min(...losses), Math.max(...losses)];
  const maxStep = Math.max(1, ...points.map((p) => p.step));
  const x = (step: number) => PAD + ((W - 2 * PAD) * step) / maxStep;
  const y = (loss: number) => H - PAD - ((H - 2 * PAD) * (loss - lo)) / (hi - lo || 1);
  const path = (pts: [number, number][]) => pts.map(([s, l], i) => `${i ? 'L' : 'M'}${x(s).toFixed(1)},${y(l).toFixed(1)}`).join(' ');
  const val = points.filter((p) => p.valLoss !== undefined).map((p): [number, number] => [p.step, p.valLoss!]);
  const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">
<rect width="${W}" height="${H}" fill="white"/>
<text x="${W / 2}" y="20" text-anchor="middle" font-size="14">${esc(title)}</text>
<line x1="${PAD}" y1="${H - PAD}" x2="${W - PAD}" y2="${H - PAD}" stroke="black"/>
<line x1="${PAD}" y1="${PAD}" x2="${PAD}" y2="${H - PAD}" stroke="black"/>
<text x="${W / 2}" y="${H - 12}" text-anchor="middle">step (0 – ${maxStep})</text>
<text x="${PAD - 6}" y="${y(hi) + 4}" text-anchor="end">${hi.toFixed(3)}</text>
<text x="${PAD - 6}" y="${y(lo) + 4}" text-anchor="end">${lo.toFixed(3)}</text>
<path d="${path(points.map((p) => [p.step, p.loss]))}" fill="none" stroke="#1f77b4" stroke-width="1.5"/>
${val.length ? `<path d="${path(val)}" fill="none" stroke="#d62728" stroke-width="1.5" stroke-dasharray="4 3"/>` : ''}
<text x="${W - PAD}" y="${PAD}" text-anchor="end" fill="#1f77b4">training loss</text>
${val.length ? `<text x="${W - PAD}" y="${PAD + 16}" text-anchor="end" fill="#d62728">validation loss</text>` : ''}
</svg>
`;
}
