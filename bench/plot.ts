/**
 * `npm run bench:plot`: PNG charts of the current results (bench/results/<suite>-<date>.json, written by
 * the suites through bench/lib/results.ts) — throughput and latency of pulse beside its peers and the
 * raw/bare baselines, and every target ratio against its bound. Vega-Lite specs compiled to SVG by Vega
 * (headless, no browser or canvas), rasterised by resvg.
 *
 *   npm run bench:plot                                    # bench/results/ → bench/plots/
 *   npm run bench:plot -- --results bench/results/quick --out /tmp/plots
 *
 * A chart whose figures are missing from the results (a suite not run, a phase left out) is skipped.
 * Bars are medians over the rounds; the whisker is min–max where the result has a range. Where a result
 * gathers several runs (a figure's `run`), each run is a panel of its own: ratios are only read within one.
 */
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import { parseArgs } from 'node:util'

import { Resvg } from '@resvg/resvg-js'
import * as vega from 'vega'
import { compile, type TopLevelSpec } from 'vega-lite'

import { type Figure, kResultsDir, type SuiteResult } from './lib/results.js'

const { values: opts } = parseArgs({
  options: { results: { type: 'string' }, out: { type: 'string' } },
  strict: true,
  allowPositionals: false,
})
const resultsDir = opts.results ?? kResultsDir
const outDir = opts.out ?? join(kResultsDir, '..', 'plots')

/** The current result of each suite: the newest `<suite>-*.json` in the directory. */
function loadResults(dir: string): Map<string, SuiteResult> {
  const out = new Map<string, SuiteResult>()
  for (const name of readdirSync(dir).sort()) {
    if (!name.endsWith('.json')) continue
    const result = JSON.parse(readFileSync(join(dir, name), 'utf8')) as SuiteResult
    if (result.schema !== 'pulse-bench-result/1') continue
    const seen = out.get(result.suite)
    if (seen === undefined || seen.date < result.date) out.set(result.suite, result)
  }
  return out
}

type Kind = 'pulse' | 'peer' | 'baseline'
const kColors: Record<Kind, string> = { pulse: '#1f77b4', peer: '#ff7f0e', baseline: '#8c8c8c' }

/** Who a variant is: pulse's own, a peer library, or a library-free baseline. */
function kindOf(variant: string): Kind {
  const v = variant.toLowerCase()
  if (/^(bare|raw|ring)/.test(v)) return 'baseline'
  if (/graphile|pg-boss|bullmq|comlink|postmessage|^pm/.test(v)) return 'peer'
  return 'pulse'
}

interface Row {
  readonly panel: string
  readonly label: string
  readonly kind: Kind
  readonly value: number
  readonly lo: number
  readonly hi: number
  readonly text: string
}

interface BarChart {
  readonly file: string
  readonly title: string
  readonly axis: string
  readonly rows: readonly Row[]
  readonly log?: boolean
}

function fmt(n: number): string {
  const abs = Math.abs(n)
  if (abs >= 1e6) return `${(n / 1e6).toPrecision(3)} M`
  if (abs >= 1e4) return `${(n / 1e3).toPrecision(3)} k`
  if (abs >= 100) return n.toFixed(0)
  if (abs >= 10) return n.toFixed(1)
  return n.toPrecision(3)
}

/** Rows of one metric (or several, `panelOf` naming each panel), in the order the variants come. */
function rowsOf(
  result: SuiteResult | undefined,
  pick: (f: Figure) => boolean,
  panelOf: (f: Figure) => string = (f) => runLabel(result, f),
  labelOf: (f: Figure) => string = (f) => f.variant,
): Row[] {
  if (result === undefined) return []
  return result.figures.filter(pick).map((f) => ({
    panel: panelOf(f),
    label: labelOf(f),
    kind: kindOf(f.variant),
    value: f.median,
    lo: f.min,
    hi: f.max,
    text: `${fmt(f.median)}${f.unit === '×' ? '×' : ''}`,
  }))
}

function runLabel(result: SuiteResult | undefined, f: Figure): string {
  const run = result?.runs?.find((r) => r.id === f.run)
  const date = (run?.date ?? result?.date ?? '').slice(0, 16).replace('T', ' ')
  return `${date}${run?.note === undefined ? '' : ` — ${run.note}`}`
}

function barSpec(chart: BarChart): TopLevelSpec {
  const panels = [...new Set(chart.rows.map((r) => r.panel))]
  // Every layer names the same scale (a layer without it would make the shared scale linear). A log scale
  // has no zero to start a bar from, so a log chart is a dot plot.
  const scale = chart.log === true ? { type: 'log' as const } : { zero: true }
  const x = { field: 'value', type: 'quantitative' as const, title: chart.axis, scale }
  const layer = [
    {
      mark:
        chart.log === true
          ? { type: 'point' as const, filled: true, size: 110, opacity: 1 }
          : { type: 'bar' as const, height: { band: 0.7 } },
      encoding: {
        x,
        color: {
          field: 'kind',
          type: 'nominal' as const,
          title: null,
          scale: { domain: Object.keys(kColors), range: Object.values(kColors) },
          legend: { orient: 'bottom' as const, direction: 'horizontal' as const },
        },
      },
    },
    {
      mark: { type: 'rule' as const, color: '#333' },
      encoding: { x: { field: 'lo', type: 'quantitative' as const, scale }, x2: { field: 'hi' } },
    },
    {
      mark: { type: 'text' as const, align: 'left' as const, dx: 6, fontSize: 11 },
      encoding: { x: { field: 'hi', type: 'quantitative' as const, scale }, text: { field: 'text' } },
    },
  ]
  const y = { field: 'label', type: 'nominal' as const, title: null, sort: null, axis: { labelLimit: 260 } }
  const base = { $schema: 'https://vega.github.io/schema/vega-lite/v6.json', config: { font: 'DejaVu Sans' } }
  const data = { values: chart.rows.map((r) => ({ ...r })) }
  if (panels.length <= 1)
    return {
      ...base,
      title: { text: chart.title, subtitle: panels[0] ?? '' },
      data,
      width: 520,
      encoding: { y },
      layer,
    }
  return {
    ...base,
    title: chart.title,
    data,
    facet: {
      row: {
        field: 'panel',
        type: 'nominal',
        title: null,
        sort: panels,
        header: { labelAngle: 0, labelAlign: 'left', labelAnchor: 'start', labelOrient: 'top' },
      },
    },
    resolve: { scale: { y: 'independent', x: chart.log === true ? 'shared' : 'independent' } },
    spec: { width: 520, encoding: { y }, layer },
  }
}

/** Every ratio with a target, as the ratio ÷ its bound (≥ 1 is met, whichever way the bound points). */
function targetsSpec(results: Map<string, SuiteResult>): TopLevelSpec | undefined {
  const rows: Record<string, unknown>[] = []
  const add = (
    suite: string,
    name: string,
    value: number,
    lo: number,
    hi: number,
    target: NonNullable<Figure['target']>,
  ) => {
    const norm = (v: number) => (target.op === '>=' ? v / target.value : target.value / v)
    const [a, b] = [norm(lo), norm(hi)]
    rows.push({
      label: `${suite}: ${name} ${target.op === '>=' ? '≥' : '≤'} ${fmt(target.value)}`,
      score: norm(value),
      lo: Math.min(a, b),
      hi: Math.max(a, b),
      status: norm(value) >= 1 ? 'met' : 'not met',
      text: `${fmt(value)} (${norm(value) >= 1 ? 'met' : 'not met'})`,
    })
  }
  for (const [suite, result] of results) {
    for (const r of result.ratios) if (r.target !== undefined) add(suite, r.name, r.median, r.min, r.max, r.target)
    for (const f of result.figures)
      if (f.target !== undefined) add(suite, `${f.metric}, ${f.variant} (${f.unit})`, f.median, f.min, f.max, f.target)
  }
  if (rows.length === 0) return undefined
  const y = { field: 'label', type: 'nominal', title: null, sort: null, axis: { labelLimit: 640 } }
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    config: { font: 'DejaVu Sans' },
    title: {
      text: 'Targets: measured ÷ bound (1 = the bound; right of it is met)',
      subtitle: 'median of same-round ratios (dot), min–max (whisker); log scale; each suite from its current result',
    },
    data: { values: rows },
    width: 520,
    layer: [
      {
        mark: { type: 'point', filled: true, size: 110, opacity: 1 },
        encoding: {
          y,
          x: { field: 'score', type: 'quantitative', title: 'measured ÷ bound', scale: { type: 'log' } },
          color: {
            field: 'status',
            type: 'nominal',
            title: null,
            scale: { domain: ['met', 'not met'], range: ['#2ca02c', '#d62728'] },
            legend: { orient: 'bottom', direction: 'horizontal' },
          },
        },
      },
      {
        mark: { type: 'rule', color: '#333' },
        encoding: { y, x: { field: 'lo', type: 'quantitative', scale: { type: 'log' } }, x2: { field: 'hi' } },
      },
      {
        mark: { type: 'rule', color: '#000', strokeDash: [4, 3] },
        encoding: { x: { datum: 1, type: 'quantitative', scale: { type: 'log' } } },
      },
      {
        mark: { type: 'text', align: 'left', dx: 6, fontSize: 11 },
        encoding: { y, x: { field: 'hi', type: 'quantitative', scale: { type: 'log' } }, text: { field: 'text' } },
      },
    ],
  } as TopLevelSpec
}

async function render(spec: TopLevelSpec, file: string): Promise<void> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' })
  const svg = await view.toSVG()
  view.finalize()
  const png = new Resvg(svg, {
    background: 'white',
    fitTo: { mode: 'zoom', value: 1.5 },
    font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' },
  })
    .render()
    .asPng()
  const path = join(outDir, file)
  writeFileSync(path, png)
  process.stderr.write(`plot: ${relative(process.cwd(), path)}\n`)
}

const results = loadResults(resultsDir)
const r = (suite: string) => results.get(suite)
const is = (metric: string | RegExp) => (f: Figure) =>
  typeof metric === 'string' ? f.metric === metric : metric.test(f.metric)
const charts: BarChart[] = [
  {
    file: 'jobs-bulk.png',
    title: 'Jobs: bulk end to end, 20,000 no-op jobs, concurrency 50 (jobs/s, higher is better)',
    axis: 'jobs/s',
    rows: rowsOf(r('jobs'), is('bulk e2e')),
  },
  {
    file: 'jobs-latency.png',
    title: 'Jobs: enqueue → handler start at a steady rate (ms, lower is better; log scale)',
    axis: 'ms',
    log: true,
    rows: rowsOf(
      r('jobs'),
      is(/^steady \d+\/s p(50|99)$/),
      (f) => f.metric.replace('steady ', ''),
      (f) => f.variant,
    ),
  },
  {
    file: 'jobs-cpu.png',
    title: 'Jobs: CPU per job in a bulk drain, Node + PostgreSQL (µs, lower is better)',
    axis: 'µs per job',
    rows: rowsOf(r('jobs'), is('bulk CPU per job, total')),
  },
  {
    file: 'streaming-throughput.png',
    title: 'Streaming: drain of 100,000 events, no-op consumer (events/s, higher is better)',
    axis: 'events/s',
    rows: rowsOf(r('streaming'), is('drain')),
  },
  {
    file: 'streaming-latency.png',
    title: 'Streaming: add → handler at 5,000 events/s (ms, lower is better)',
    axis: 'ms',
    rows: rowsOf(
      r('streaming'),
      is(/^add → handler at \d+\/s p(50|99)$/),
      (f) => f.metric,
      (f) => f.variant,
    ),
  },
  {
    file: 'bus.png',
    title: 'Bus: throughput beside the raw baselines (higher is better)',
    axis: 'per second',
    rows: rowsOf(r('bus'), is(/^(in-process put → get|HTTP publish)$/), (f) => `${f.metric} (${f.unit})`),
  },
  {
    file: 'rmap.png',
    title: 'rmap: writes, 64 in flight (ops/s, higher is better)',
    axis: 'writes/s',
    rows: rowsOf(r('rmap'), is('write')),
  },
  {
    file: 'runtime-mailbox.png',
    title: 'Runtime: one-way throughput, 64 B binary messages (msgs/s, higher is better)',
    axis: 'messages/s',
    rows: rowsOf(r('runtime'), (f) => f.metric === 'mailbox rate' && f.variant.endsWith(' 64B')),
  },
  {
    file: 'runtime-ask.png',
    title: 'Runtime: round trip to an idle receiver (µs, lower is better; log scale)',
    axis: 'µs',
    log: true,
    rows: rowsOf(r('runtime'), is(/^round trip p(50|99)$/), (f) => f.metric.replace('round trip ', '')),
  },
]

mkdirSync(outDir, { recursive: true })
for (const chart of charts) {
  if (chart.rows.length === 0) {
    process.stderr.write(`plot: ${chart.file} skipped (no figures in ${relative(process.cwd(), resultsDir)})\n`)
    continue
  }
  await render(barSpec(chart), chart.file)
}
const targets = targetsSpec(results)
if (targets !== undefined) await render(targets, 'targets.png')
