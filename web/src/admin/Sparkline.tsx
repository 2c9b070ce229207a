// A tiny SVG line chart of the last samples: no axes, scaled to its own maximum.

export interface SparklineProps {
  values: readonly (number | null)[];
  /**
   * Most samples the chart holds. A shorter history fills at least a quarter of that width from
   * the right edge and grows leftwards, so the first samples are not squeezed into a corner.
   */
  slots: number;
  label: string;
  testId?: string;
  tone?: 'primary' | 'green' | 'amber' | 'sky';
}

const W = 120;
const H = 32;

export function sparklinePath(values: readonly (number | null)[], slots: number): { line: string; area: string; max: number } {
  const nums = values.map((v) => (v === null || !Number.isFinite(v) ? null : v));
  const max = nums.reduce<number>((m, v) => (v !== null && v > m ? v : m), 0);
  const scale = max > 0 ? (H - 3) / max : 0;
  const step = W / Math.max(1, slots - 1);
  const offset = slots - nums.length;
  let line = '';
  let area = '';
  let segStart: number | null = null;
  let lastX = 0;
  nums.forEach((v, i) => {
    const x = (offset + i) * step;
    if (v === null) {
      if (segStart !== null) area += `L${lastX.toFixed(1)},${H}L${segStart.toFixed(1)},${H}Z`;
      segStart = null;
      return;
    }
    const y = H - 1.5 - v * scale;
    const cmd = segStart === null ? 'M' : 'L';
    if (segStart === null) {
      segStart = x;
      area += `M${x.toFixed(1)},${H}L${x.toFixed(1)},${y.toFixed(1)}`;
    } else {
      area += `L${x.toFixed(1)},${y.toFixed(1)}`;
    }
    line += `${cmd}${x.toFixed(1)},${y.toFixed(1)}`;
    lastX = x;
  });
  if (segStart !== null) area += `L${lastX.toFixed(1)},${H}L${(segStart as number).toFixed(1)},${H}Z`;
  // A lone sample (no neighbour to join) still shows, as the round cap of a zero-length line.
  line = line.replace(/M[\d.-]+,[\d.-]+(?=M|$)/g, (m) => `${m}l0,0`);
  return { line, area, max };
}

export function Sparkline({ values, slots, label, testId, tone = 'primary' }: SparklineProps) {
  const { line, area, max } = sparklinePath(values, Math.min(slots, Math.max(values.length, Math.ceil(slots / 4))));
  return (
    <svg
      className={`sparkline tone-${tone}`}
      viewBox={`0 0 ${W} ${H}`}
      preserveAspectRatio="none"
      role="img"
      aria-label={label}
      data-testid={testId}
      data-points={values.length}
      data-max={max}
    >
      <line className="sparkline-base" x1="0" y1={H - 0.5} x2={W} y2={H - 0.5} />
      {area ? <path className="sparkline-area" d={area} /> : null}
      {line ? <path className="sparkline-line" d={line} /> : null}
    </svg>
  );
}
