// Turns the figures of every run into medians and a Markdown table:
// figure | shadows median (min–max) | BullMQ median (min–max) | ratio | target | met?

const REFERENCES = ['bullmq', 'fastify', 'bare', 'beequeue', 'xadd', 'zadd']
const SYSTEM_LABEL = {
  bullmq: 'BullMQ',
  fastify: 'bare Fastify',
  bare: 'bare XREADGROUP/XACK',
  beequeue: 'Bee-Queue',
  xadd: 'XADD route',
  zadd: 'bare ZADD',
  shadows: 'shadows',
  'shadows-off': 'shadows, history and events off',
  unlimited: 'shadows without the limit',
}

/** Median of numbers (mean of the two middle ones for an even count). */
export function median(values) {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

/** Groups run records by scenario, figure and system: { values, unit } in order of appearance. */
export function summarize(records) {
  const groups = new Map()
  for (const r of records) {
    const id = `${r.scenario}\u0000${r.figure}\u0000${r.system}`
    let g = groups.get(id)
    if (!g) {
      g = { scenario: r.scenario, figure: r.figure, system: r.system, unit: r.unit, values: [] }
      groups.set(id, g)
    }
    if (typeof r.value === 'number' && Number.isFinite(r.value)) g.values.push(r.value)
  }
  return [...groups.values()]
    .filter((g) => g.values.length > 0)
    .map((g) => ({ ...g, median: median(g.values), min: Math.min(...g.values), max: Math.max(...g.values) }))
}

/** One JSON line per summarized figure. */
export function summaryLines(summaries) {
  return summaries.map((s) =>
    JSON.stringify({
      scenario: s.scenario,
      figure: s.figure,
      system: s.system,
      stat: 'median',
      value: s.median,
      unit: s.unit,
      min: s.min,
      max: s.max,
      runs: s.values.length,
    }),
  )
}

/** Formats a figure: thousands separators for big values, a few decimals for small ones. */
export function formatNumber(value) {
  if (!Number.isFinite(value)) return String(value)
  const abs = Math.abs(value)
  const digits = abs >= 100 ? 0 : abs >= 10 ? 1 : 2
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })
}

function cell(summary, withSystem) {
  if (!summary) return '—'
  const prefix = withSystem ? `${SYSTEM_LABEL[summary.system] ?? summary.system}: ` : ''
  if (summary.values.length === 1) return `${prefix}${formatNumber(summary.median)}`
  return `${prefix}${formatNumber(summary.median)} (${formatNumber(summary.min)}–${formatNumber(summary.max)})`
}

const COMPARE = {
  '>=': (a, b) => a >= b,
  '>': (a, b) => a > b,
  '<=': (a, b) => a <= b,
  '<': (a, b) => a < b,
}

/**
 * Whether a target is met. Its kind is `ratio` (shadows' median ÷ the reference's) or `value`
 * (shadows' median) followed by >=, >, <= or <; no kind means a figure reported without a target.
 */
function judge(target, ratio, value) {
  if (!target.kind) return '—'
  const [, subjectName, op] = /^(ratio|value)(>=|>|<=|<)$/.exec(target.kind) ?? []
  if (!op) throw new Error(`unknown target kind ${target.kind}`)
  const subject = subjectName === 'ratio' ? ratio : value
  if (subject === undefined || !Number.isFinite(subject)) return '?'
  return COMPARE[op](subject, target.value) ? 'yes' : 'NO'
}

/**
 * The table rows: one per figure, or one per declared target of that figure. A target compares
 * shadows' median with its `ref`'s, or, with `subject`, another system's (e.g. shadows configured
 * otherwise) with it.
 */
export function tableRows(scenarios, summaries) {
  const rows = []
  for (const scenario of scenarios) {
    const own = summaries.filter((s) => s.scenario === scenario.name)
    const figures = [...new Set(own.map((s) => s.figure))]
    for (const figure of figures) {
      const bySystem = new Map(own.filter((s) => s.figure === figure).map((s) => [s.system, s]))
      const defaultRef = REFERENCES.find((r) => bySystem.has(r))
      const targets = scenario.targets?.[figure] ?? [{ kind: null, text: '' }]
      for (const target of targets) {
        const subjectName = target.subject ?? 'shadows'
        const subject = bySystem.get(subjectName)
        const refName = target.ref ?? defaultRef
        const ref = refName ? bySystem.get(refName) : undefined
        const ratio = subject && ref && ref.median !== 0 ? subject.median / ref.median : undefined
        const unit = subject?.unit ?? ref?.unit ?? ''
        const versus = refName && refName !== 'bullmq' && targets.length > 1 ? ` vs ${refName}` : ''
        rows.push({
          figure: `${scenario.name}: ${figure}${unit ? ` (${unit})` : ''}${subjectName !== 'shadows' ? ` — ${subjectName}` : ''}${versus}`,
          shadows: cell(subject, subjectName !== 'shadows'),
          reference: cell(ref, refName !== undefined && refName !== 'bullmq'),
          ratio: ratio === undefined ? '—' : `${ratio.toFixed(2)}×`,
          target: target.text || '—',
          met: judge(target, ratio, subject?.median),
        })
      }
    }
  }
  return rows
}

/** The closing Markdown table. */
export function markdownTable(rows) {
  const header = ['figure', 'shadows median (min–max)', 'BullMQ median (min–max)', 'ratio', 'target', 'met?']
  const lines = [`| ${header.join(' | ')} |`, `|${header.map((h, i) => (i === 0 ? '---' : i >= 3 ? ':---:' : '---:')).join('|')}|`]
  for (const r of rows) lines.push(`| ${[r.figure, r.shadows, r.reference, r.ratio, r.target, r.met].join(' | ')} |`)
  return lines.join('\n')
}
