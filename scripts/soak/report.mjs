// What the soak makes of its samples: a least-squares slope per series, the verdict on whether each
// is flat, the table it prints and the SVG plot of memory over time.

/** Least-squares slope of `ys` over `xs` (units of y per unit of x); 0 for fewer than two points. */
export function slope(xs, ys) {
  const n = xs.length
  if (n < 2) return 0
  const mx = xs.reduce((a, b) => a + b, 0) / n
  const my = ys.reduce((a, b) => a + b, 0) / n
  let num = 0
  let den = 0
  for (let i = 0; i < n; i++) {
    num += (xs[i] - mx) * (ys[i] - my)
    den += (xs[i] - mx) ** 2
  }
  return den === 0 ? 0 : num / den
}

const MB = 1024 * 1024

/**
 * The series the soak judges, and the bound on each: a series is flat when its fitted line rises by
 * less than `share` of its mean, or less than `floor`, over ten minutes. A falling series is flat.
 */
export const BOUNDS = {
  rss: { share: 0.05, floor: 8 * MB, unit: 'B' },
  heap: { share: 0.05, floor: 4 * MB, unit: 'B' },
  redisMemory: { share: 0.05, floor: 4 * MB, unit: 'B' },
  redisKeys: { share: 0.05, floor: 2000, unit: 'keys' },
  loopP99: { share: 0.25, floor: 5, unit: 'ms' },
  punctualityP99: { share: 0.25, floor: 5, unit: 'ms' },
}

const TEN_MINUTES = 600_000

/**
 * Judges every series of `samples` ({ at, series: { name: { kind, value } } }) after `warmupMs`.
 * Returns one row per series: its mean, slope (per ten minutes), bound and whether it is flat;
 * `judged` is false when fewer than `minSamples` samples came after the warm-up (the rows then
 * describe the whole run). The warm-up counts from `start` (default: the first sample).
 */
export function judgeSeries(samples, warmupMs, { minSamples = 6, start = samples[0]?.at ?? 0 } = {}) {
  const warm = samples.filter((s) => s.at - start >= warmupMs)
  const judged = warm.length >= minSamples
  // too few samples after the warm-up: the figures are those of the whole run, shown, not judged
  const after = judged ? warm : samples
  const names = [...new Set(samples.flatMap((s) => Object.keys(s.series)))]
  const rows = names.map((name) => {
    const points = after.filter((s) => s.series[name] !== undefined && Number.isFinite(s.series[name].value))
    const kind = samples.find((s) => s.series[name])?.series[name].kind
    const xs = points.map((s) => s.at)
    const ys = points.map((s) => s.series[name].value)
    const mean = ys.length ? ys.reduce((a, b) => a + b, 0) / ys.length : 0
    const perTenMinutes = slope(xs, ys) * TEN_MINUTES
    const bound = BOUNDS[kind]
    const limit = Math.max(bound.share * mean, bound.floor)
    return { name, kind, unit: bound.unit, samples: ys.length, mean, perTenMinutes, limit, flat: perTenMinutes < limit }
  })
  return { judged, warmupMs, rows }
}

/** A value for the table: bytes in MB, the rest as they are. */
function cell(kind, value) {
  if (value === undefined || !Number.isFinite(value)) return '-'
  if (BOUNDS[kind]?.unit === 'B') return (value / MB).toFixed(1)
  if (BOUNDS[kind]?.unit === 'ms') return value.toFixed(1)
  return String(Math.round(value))
}

/**
 * The samples as a Markdown table: one row per sample, seconds since `start` (default: the first
 * sample), one column per series (MB, ms, counts).
 */
export function samplesTable(samples, extra = [], start = samples[0]?.at ?? 0) {
  const names = [...new Set(samples.flatMap((s) => Object.keys(s.series)))]
  const kinds = Object.fromEntries(names.map((n) => [n, samples.find((s) => s.series[n])?.series[n].kind]))
  const head = [
    't (s)',
    ...names.map((n) => `${n}${BOUNDS[kinds[n]]?.unit === 'B' ? ' MB' : BOUNDS[kinds[n]]?.unit === 'ms' ? ' ms' : ''}`),
    ...extra.map((e) => e.title),
  ]
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => '---:').join('|')}|`]
  for (const s of samples) {
    lines.push(
      `| ${[Math.round((s.at - start) / 1000), ...names.map((n) => cell(kinds[n], s.series[n]?.value)), ...extra.map((e) => e.value(s))].join(' | ')} |`,
    )
  }
  return lines.join('\n')
}

/** The verdict on the series as a Markdown table. */
export function slopesTable(verdict) {
  const lines = ['| series | mean | slope per 10 min | bound per 10 min | flat |', '|---|---:|---:|---:|:---:|']
  for (const r of verdict.rows) {
    const fmt = (v) => (r.unit === 'B' ? `${(v / MB).toFixed(2)} MB` : r.unit === 'ms' ? `${v.toFixed(2)} ms` : `${Math.round(v)}`)
    lines.push(`| ${r.name} | ${fmt(r.mean)} | ${fmt(r.perTenMinutes)} | ${fmt(r.limit)} | ${!verdict.judged ? 'not judged' : r.flat ? 'yes' : 'NO'} |`)
  }
  return lines.join('\n')
}

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b', '#e377c2', '#17becf', '#7f7f7f', '#bcbd22']

/**
 * An SVG line chart of the memory series (MB) over time (minutes), with the warm-up shaded and a
 * legend: what a person opens to see that memory stays flat.
 */
export function memoryPlot(samples, { warmupMs, title, start = samples[0]?.at ?? 0 }) {
  const names = [...new Set(samples.flatMap((s) => Object.keys(s.series)))].filter((n) =>
    samples.some((s) => s.series[n] && BOUNDS[s.series[n].kind]?.unit === 'B'),
  )
  const W = 900
  const H = 480
  const left = 60
  const right = 220
  const top = 40
  const bottom = 50
  const maxT = Math.max(1, ...samples.map((s) => (s.at - start) / 60_000))
  const maxY = Math.max(1, ...samples.flatMap((s) => names.map((n) => (s.series[n]?.value ?? 0) / MB))) * 1.1
  const x = (t) => left + (t / maxT) * (W - left - right)
  const y = (v) => H - bottom - (v / maxY) * (H - top - bottom)
  const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;')
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${left}" y="22" font-size="15">${esc(title)}</text>`,
    `<rect x="${x(0)}" y="${top}" width="${Math.max(0, x(Math.min(maxT, warmupMs / 60_000)) - x(0))}" height="${H - top - bottom}" fill="#f0f0f0"/>`,
    `<text x="${x(0) + 4}" y="${top + 14}" fill="#888">warm-up</text>`,
  ]
  for (let i = 0; i <= 5; i++) {
    const v = (maxY / 5) * i
    parts.push(`<line x1="${left}" x2="${W - right}" y1="${y(v)}" y2="${y(v)}" stroke="#ddd"/>`)
    parts.push(`<text x="${left - 6}" y="${y(v) + 4}" text-anchor="end">${v.toFixed(0)}</text>`)
  }
  for (let i = 0; i <= 5; i++) {
    const t = (maxT / 5) * i
    parts.push(`<text x="${x(t)}" y="${H - bottom + 18}" text-anchor="middle">${t.toFixed(1)}</text>`)
  }
  parts.push(`<text x="${(left + W - right) / 2}" y="${H - 12}" text-anchor="middle">minutes</text>`)
  parts.push(`<text x="16" y="${(top + H - bottom) / 2}" transform="rotate(-90 16 ${(top + H - bottom) / 2})" text-anchor="middle">MB</text>`)
  names.forEach((name, i) => {
    const color = COLORS[i % COLORS.length]
    const points = samples
      .filter((s) => s.series[name] && Number.isFinite(s.series[name].value))
      .map((s) => `${x((s.at - start) / 60_000).toFixed(1)},${y(s.series[name].value / MB).toFixed(1)}`)
    parts.push(`<polyline fill="none" stroke="${color}" stroke-width="1.8" points="${points.join(' ')}"/>`)
    parts.push(`<line x1="${W - right + 16}" x2="${W - right + 36}" y1="${top + 10 + i * 18}" y2="${top + 10 + i * 18}" stroke="${color}" stroke-width="3"/>`)
    parts.push(`<text x="${W - right + 42}" y="${top + 14 + i * 18}">${esc(name)}</text>`)
  })
  parts.push('</svg>')
  return `${parts.join('\n')}\n`
}

/** The p99 of `values` (nearest rank); undefined when empty. */
export function p99(values) {
  if (values.length === 0) return undefined
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.ceil(sorted.length * 0.99) - 1)]
}
