// The dependency rules of the code, checked from its import statements (read with the TypeScript
// compiler API; nothing is run). Run `node scripts/dependencies.mjs` to list what breaks them; the
// test suite runs the same check (test/architecture/dependencies.test.ts).
//
// The rules:
// - Parts depend one way: core ← redis ← client, worker ← gateway, routes ← cli. core is pure and
//   imports only core; redis imports core; client imports core and redis; worker imports those
//   and the client it runs on; gateway imports all of those; cli imports anything but routes.
// - src/index.ts (the public API) and src/examples/ stand beside the parts they re-export or use.
// - routes/ uses only the public API (src/index.ts), the gateway's contract module
//   (src/gateway/contract.ts) and its own files; nothing imports routes/ but src/gateway/app.ts
//   (and the HTTP client, for the types of routes/*/schemas.ts).
// - src/http-client/ (the package's `shadows/client`, for browsers too) loads only its own files at
//   run time: whatever else it imports — the routes' schemas, core's types, the gateway's contract
//   (and no other gateway module), a package such as @sinclair/typebox — it imports as types only,
//   which the compiler erases.
// - No import cycle at run time anywhere; and no cycle of types either, but the one the public
//   TaskContext makes: src/core/task.ts names the Shadow and the Worker it hands to a task.
import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, posix, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import ts from 'typescript'

/** Which part a file belongs to, by its path from the repository root. */
export function partOf(file) {
  if (file.startsWith('routes/')) return 'routes'
  if (file === 'src/index.ts') return 'index'
  const match = /^src\/([^/]+)\//.exec(file)
  return match ? match[1] : 'other'
}

/** The parts each part may import at all (its own included). */
const ALLOWED = {
  core: ['core'],
  redis: ['core', 'redis'],
  client: ['core', 'redis', 'client'],
  worker: ['core', 'redis', 'client', 'worker'],
  gateway: ['core', 'redis', 'client', 'worker', 'gateway', 'routes'],
  cli: ['core', 'redis', 'client', 'worker', 'gateway', 'cli', 'examples', 'index'],
  index: ['core', 'redis', 'client', 'worker', 'index'],
  examples: ['core', 'index', 'examples'],
  // of gateway, only the contract module (checked below)
  routes: ['routes', 'index', 'gateway'],
  // types only, but for its own files (checked below)
  'http-client': ['http-client', 'core', 'gateway', 'routes'],
}

/** Type-only imports that may run against the layers: the public TaskContext names these. */
const TASK_CONTEXT_TYPES = new Set(['src/core/task.ts -> src/client/shadow.ts', 'src/core/task.ts -> src/worker/worker.ts'])

/**
 * The imports of one source file: `{ target, typeOnly }` for each relative one, targets as
 * repository paths, and `{ target, typeOnly, external: true }` for a package or `node:` module.
 */
export function importsOf(file, text) {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, false, ts.ScriptKind.TS)
  const found = []
  const add = (specifier, typeOnly) => {
    if (!specifier.startsWith('.')) {
      found.push({ target: specifier, typeOnly, external: true })
      return
    }
    const target = posix.normalize(posix.join(posix.dirname(file), specifier)).replace(/\.js$/, '.ts')
    found.push({ target, typeOnly })
  }
  const visit = (node) => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      const clause = node.importClause
      const named = clause?.namedBindings && ts.isNamedImports(clause.namedBindings) ? clause.namedBindings.elements : undefined
      const typeOnly =
        clause !== undefined && (clause.isTypeOnly || (!clause.name && named !== undefined && named.length > 0 && named.every((e) => e.isTypeOnly)))
      add(node.moduleSpecifier.text, typeOnly)
    } else if (ts.isExportDeclaration(node) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      const named = node.exportClause && ts.isNamedExports(node.exportClause) ? node.exportClause.elements : undefined
      add(node.moduleSpecifier.text, node.isTypeOnly || (named !== undefined && named.length > 0 && named.every((e) => e.isTypeOnly)))
    } else if (
      ts.isCallExpression(node) &&
      node.expression.kind === ts.SyntaxKind.ImportKeyword &&
      node.arguments[0] &&
      ts.isStringLiteral(node.arguments[0])
    ) {
      add(node.arguments[0].text, false)
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument) && ts.isStringLiteral(node.argument.literal)) {
      add(node.argument.literal.text, true)
    }
    ts.forEachChild(node, visit)
  }
  visit(source)
  return found
}

/** The cycles of a graph (Map of node → Set of nodes), each as a list of nodes; one per strongly connected part. */
function cycles(graph) {
  let index = 0
  const indexOf = new Map()
  const low = new Map()
  const stack = []
  const onStack = new Set()
  const found = []
  const connect = (node) => {
    indexOf.set(node, index)
    low.set(node, index)
    index += 1
    stack.push(node)
    onStack.add(node)
    for (const next of graph.get(node) ?? []) {
      if (!indexOf.has(next)) {
        connect(next)
        low.set(node, Math.min(low.get(node), low.get(next)))
      } else if (onStack.has(next)) {
        low.set(node, Math.min(low.get(node), indexOf.get(next)))
      }
    }
    if (low.get(node) === indexOf.get(node)) {
      const part = []
      let member
      do {
        member = stack.pop()
        onStack.delete(member)
        part.push(member)
      } while (member !== node)
      if (part.length > 1 || graph.get(node)?.has(node)) found.push(part.sort())
    }
  }
  for (const node of [...graph.keys()].sort()) if (!indexOf.has(node)) connect(node)
  return found
}

/**
 * Checks the rules on a set of source files (a Map of repository path → text, the paths under
 * src/ and routes/). Returns one line per breach; none when the rules hold.
 */
export function checkDependencies(files) {
  const problems = []
  const runtime = new Map()
  const types = new Map()
  for (const [file, text] of [...files].sort(([a], [b]) => a.localeCompare(b))) {
    runtime.set(file, runtime.get(file) ?? new Set())
    types.set(file, types.get(file) ?? new Set())
    const from = partOf(file)
    for (const { target, typeOnly, external } of importsOf(file, text)) {
      const edge = `${file} -> ${target}`
      if (external) {
        if (from === 'http-client' && !typeOnly) problems.push(`${edge}: the HTTP client loads no package or node: module at run time (types only)`)
        continue
      }
      const to = partOf(target)
      if (!files.has(target)) problems.push(`${edge}: imports a file that is not there`)
      const allowed = ALLOWED[from]
      const layered = allowed !== undefined && allowed.includes(to)
      if (!layered && !(typeOnly && TASK_CONTEXT_TYPES.has(edge))) problems.push(`${edge}: ${from} may not import ${to}`)
      if (from === 'http-client' && to !== 'http-client' && !typeOnly) {
        problems.push(`${edge}: the HTTP client loads only its own files at run time; it imports types only from ${to}`)
      }
      if (from === 'http-client' && to === 'gateway' && target !== 'src/gateway/contract.ts') {
        problems.push(`${edge}: of the gateway, the HTTP client uses only the types of src/gateway/contract.ts`)
      }
      const clientTypes = from === 'http-client' && typeOnly && /^routes\/[^/]+\/schemas\.ts$/.test(target)
      if (to === 'routes' && from !== 'routes' && !clientTypes && !(file === 'src/gateway/app.ts' && target === 'routes/index.ts')) {
        problems.push(`${edge}: only src/gateway/app.ts imports routes/, and only routes/index.ts`)
      }
      if (from === 'routes' && to !== 'routes' && target !== 'src/index.ts' && target !== 'src/gateway/contract.ts') {
        problems.push(`${edge}: routes use only the public API (src/index.ts) and src/gateway/contract.ts`)
      }
      if (!typeOnly) runtime.get(file).add(target)
      if (!TASK_CONTEXT_TYPES.has(edge)) types.get(file).add(target)
    }
  }
  for (const cycle of cycles(runtime)) problems.push(`import cycle at run time: ${cycle.join(', ')}`)
  const runtimeCycles = new Set(cycles(runtime).map((c) => c.join()))
  for (const cycle of cycles(types)) if (!runtimeCycles.has(cycle.join())) problems.push(`import cycle of types: ${cycle.join(', ')}`)
  return problems
}

/** The .ts files under src/ and routes/ of the repository at `root`, as a Map of path → text. */
export function readSources(root) {
  const files = new Map()
  const walk = (dir) => {
    for (const entry of readdirSync(join(root, dir), { withFileTypes: true })) {
      const path = posix.join(dir, entry.name)
      if (entry.isDirectory()) walk(path)
      else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) files.set(path, readFileSync(join(root, path), 'utf8'))
    }
  }
  walk('src')
  walk('routes')
  return files
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const root = relative(process.cwd(), dirname(dirname(fileURLToPath(import.meta.url)))) || '.'
  const problems = checkDependencies(readSources(root))
  for (const line of problems) console.log(line)
  console.log(problems.length === 0 ? 'dependencies: every rule holds' : `dependencies: ${problems.length} breach(es)`)
  process.exit(problems.length === 0 ? 0 : 1)
}
