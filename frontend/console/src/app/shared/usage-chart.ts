import { ChangeDetectionStrategy, Component, DestroyRef, ElementRef, afterNextRender, effect, inject, input } from '@angular/core';
import uPlot from 'uplot';

type AlignedData = uPlot.AlignedData;

/** One line on a usage chart. */
export interface ChartSeries {
  label: string;
  /** CSS colour of the line. */
  color: string;
}

/** A moment to mark on a chart (a domain event): a vertical line with a short label. */
export interface ChartMarker {
  /** Epoch seconds. */
  t: number;
  label: string;
  /** CSS colour of the line. */
  color: string;
}

/** A small uPlot line chart of percentages over time; `data` is `[seconds[], ...values[]]`; `markers` draw vertical lines. */
@Component({
  selector: 'adm-usage-chart',
  changeDetection: ChangeDetectionStrategy.OnPush,
  host: { class: 'usage-chart' },
  template: ``,
  styles: `:host { display: block; width: 100%; min-height: 60px; }`,
})
export class UsageChart {
  private readonly host = inject<ElementRef<HTMLElement>>(ElementRef);
  readonly series = input.required<ChartSeries[]>();
  readonly data = input.required<AlignedData>();
  readonly height = input(140);
  /** Unit of the y axis. @default '%' */
  readonly unit = input('%');
  readonly markers = input<ChartMarker[]>([]);
  private plot: uPlot | null = null;

  constructor() {
    afterNextRender(() => this.create());
    effect(() => {
      const data = this.data();
      this.markers();
      this.plot?.setData(data);
    });
    const resize = new ResizeObserver(() => this.plot?.setSize({ width: this.width(), height: this.height() }));
    resize.observe(this.host.nativeElement);
    inject(DestroyRef).onDestroy(() => {
      resize.disconnect();
      this.plot?.destroy();
    });
  }

  private width(): number {
    return Math.max(200, this.host.nativeElement.clientWidth);
  }

  private create(): void {
    const unit = this.unit();
    const axisColor = getComputedStyle(this.host.nativeElement).color || '#888';
    this.plot = new uPlot(
      {
        width: this.width(),
        height: this.height(),
        legend: { show: true, live: true },
        cursor: { drag: { x: false, y: false } },
        plugins: [{ hooks: { draw: [(u: uPlot) => drawMarkers(u, this.markers())] } }],
        // With one sample (or none) uPlot would stretch x over years; show at least the last minute.
        scales: { x: { time: true, range: minuteAtLeast }, y: { range: unit === '%' ? [0, 100] : undefined } },
        axes: [
          { stroke: axisColor, grid: { stroke: 'rgba(127,127,127,.15)' }, ticks: { show: false } },
          { stroke: axisColor, grid: { stroke: 'rgba(127,127,127,.15)' }, ticks: { show: false }, size: 44, values: (_u, v) => v.map((x) => `${x}${unit}`) },
        ],
        series: [
          {},
          ...this.series().map((s) => ({
            label: s.label,
            stroke: s.color,
            width: 1.5,
            fill: `${s.color}22`,
            spanGaps: false,
            value: (_u: uPlot, v: number | null) => (v === null ? '—' : `${v.toFixed(1)}${unit}`),
          })),
        ],
      },
      this.data(),
      this.host.nativeElement,
    );
  }
}

/** Draws each marker inside the x range as a dashed vertical line with its label at the top. */
function drawMarkers(u: uPlot, markers: ChartMarker[]): void {
  const ctx = u.ctx;
  const [min, max] = [u.scales['x'].min ?? 0, u.scales['x'].max ?? 0];
  ctx.save();
  ctx.font = `${10 * devicePixelRatio}px sans-serif`;
  for (const m of markers) {
    if (m.t < min || m.t > max) continue;
    const x = Math.round(u.valToPos(m.t, 'x', true));
    ctx.strokeStyle = m.color;
    ctx.fillStyle = m.color;
    ctx.setLineDash([4 * devicePixelRatio, 3 * devicePixelRatio]);
    ctx.beginPath();
    ctx.moveTo(x, u.bbox.top);
    ctx.lineTo(x, u.bbox.top + u.bbox.height);
    ctx.stroke();
    ctx.fillText(m.label, x + 3 * devicePixelRatio, u.bbox.top + 10 * devicePixelRatio);
  }
  ctx.restore();
}

/**
 * x range of a live chart: the data's span, but never less than the last 60 s. uPlot widens a single
 * time sample to 1,000 days, so the span is taken from the data, not from `min`/`max`.
 */
function minuteAtLeast(u: uPlot, min: number | null, max: number | null): [number, number] {
  const xs = (u.data?.[0] ?? []) as (number | null | undefined)[];
  const first = xs.find((x) => typeof x === 'number');
  const last = [...xs].reverse().find((x) => typeof x === 'number');
  if (typeof first !== 'number' || typeof last !== 'number') {
    const now = Date.now() / 1000;
    return [now - 60, now];
  }
  return last - first < 60 ? [last - 60, last] : [min ?? first, max ?? last];
}
