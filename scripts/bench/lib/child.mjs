// One measurement in a fresh process: run.mjs forks this file with a JSON spec
// { scenario, caseId, system, params, url, name, quick }, and gets back over IPC
// { ok: true, figures: [...] } or { ok: false, error }.
const spec = JSON.parse(process.argv[2] ?? '{}')

function reply(message, code) {
  // exit only once the parent has the message; open handles of a failed run must not keep us alive
  process.send(message, () => process.exit(code))
  setTimeout(() => process.exit(code), 5000).unref()
}

try {
  const { scenario } = await import(`../scenarios/${spec.scenario}.mjs`)
  const figures = await scenario.measure(spec)
  reply({ ok: true, figures }, 0)
} catch (err) {
  reply({ ok: false, error: err?.stack ?? String(err) }, 1)
}
