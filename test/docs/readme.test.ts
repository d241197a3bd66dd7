/**
 * The TypeScript examples in README.md and docs/*.md compile, so they cannot drift from the code.
 *
 * Every ```ts block is type-checked as an ES module with the project's compiler options (strict,
 * noUncheckedIndexedAccess, exactOptionalPropertyTypes; only noUnusedLocals is off, since an example
 * may declare a value just to show it). `import … from 'shadows'` resolves to this package as
 * published (package.json `exports`, dist/src/index.d.ts, which `npm test` builds first). The blocks
 * are compiled in memory, as files of a directory beside this one that is never written.
 *
 * An HTML comment on the line before a block (invisible once rendered) changes how it is compiled:
 *
 *   <!-- not compiled -->     a deliberate fragment: skipped (keep these few)
 *   <!-- file: tasks.ts -->   the block is the module tasks.ts; later blocks of the same page
 *                             import it as './tasks.js'
 *   <!-- continues -->        the block is appended to the module of the block before it
 *
 * A block that shows a compile error puts `// @ts-expect-error` on the line before the error, so the
 * test fails when the error is no longer reported (TypeScript's "unused directive").
 */
import t from 'tap'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import ts from 'typescript'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
/** Where the blocks' modules seem to live: inside the package, so that 'shadows' and node_modules resolve. */
const VIRTUAL_DIR = `${ROOT}test/docs/.examples`

/** One ```ts block of a Markdown page. */
interface Block {
  readonly page: string
  /** 1-based line of the opening fence. */
  readonly line: number
  readonly code: string
  readonly marker: string | undefined
}

/** One module to compile: blocks joined, with where each starts. */
interface Module {
  readonly path: string
  text: string
  readonly parts: { readonly block: Block; readonly offset: number }[]
}

/** The ```ts blocks of one page, with the HTML comment on the line before each, if any. */
function extractBlocks(page: string, markdown: string): Block[] {
  const lines = markdown.split('\n')
  const blocks: Block[] = []
  for (let i = 0; i < lines.length; i++) {
    const fence = /^(\s*)(`{3,})(ts|typescript)\s*$/.exec(lines[i] ?? '')
    if (!fence) continue
    const [, indent = '', ticks = '```'] = fence
    const start = i
    const body: string[] = []
    for (i += 1; i < lines.length && !(lines[i] ?? '').startsWith(`${indent}${ticks}`); i++) body.push((lines[i] ?? '').slice(indent.length))
    const before = (lines[start - 1] ?? '').trim()
    const marker = /^<!--\s*(.*?)\s*-->$/.exec(before)?.[1]
    blocks.push({ page, line: start + 1, code: `${body.join('\n')}\n`, marker })
  }
  return blocks
}

/** Groups a page's blocks into modules, following the markers. */
function modulesOf(page: string, blocks: readonly Block[]): Module[] {
  const dir = `${VIRTUAL_DIR}/${page.replace(/\.md$/, '').replace(/[^A-Za-z0-9_-]/g, '_')}`
  const modules: Module[] = []
  for (const block of blocks) {
    if (block.marker === 'not compiled') continue
    const previous = modules[modules.length - 1]
    if (block.marker === 'continues') {
      if (!previous) throw new Error(`${page}:${block.line}: "continues" but no block before it`)
      previous.parts.push({ block, offset: previous.text.length })
      previous.text += block.code
      continue
    }
    const file = /^file:\s*([A-Za-z0-9_-]+\.ts)$/.exec(block.marker ?? '')?.[1]
    if (block.marker !== undefined && file === undefined) throw new Error(`${page}:${block.line}: unknown marker <!-- ${block.marker} -->`)
    modules.push({ path: `${dir}/${file ?? `line-${block.line}.ts`}`, text: block.code, parts: [{ block, offset: 0 }] })
  }
  return modules
}

/** The project's compiler options, for examples. */
function compilerOptions(): ts.CompilerOptions {
  const file = ts.readConfigFile(`${ROOT}tsconfig.json`, (path) => ts.sys.readFile(path))
  if (file.error) throw new Error(ts.flattenDiagnosticMessageText(file.error.messageText, '\n'))
  const parsed = ts.parseJsonConfigFileContent(file.config, ts.sys, ROOT)
  return { ...parsed.options, noEmit: true, declaration: false, sourceMap: false, noUnusedLocals: false }
}

/** A diagnostic of one block: where in the page, and what. */
interface Problem {
  readonly page: string
  readonly line: number
  readonly block: Block
  readonly message: string
}

/** Type-checks the modules together (they may import one another); returns the problems found. */
function check(modules: readonly Module[]): Problem[] {
  const options = compilerOptions()
  const files = new Map(modules.map((m) => [m.path, m]))
  const host = ts.createCompilerHost(options, true)
  const { fileExists, readFile, getSourceFile, directoryExists } = host
  const dirs = new Set([...files.keys()].map((path) => path.slice(0, path.lastIndexOf('/'))))
  host.fileExists = (path) => files.has(path) || fileExists.call(host, path)
  host.directoryExists = (path) => dirs.has(path.replace(/\/$/, '')) || (directoryExists?.call(host, path) ?? true)
  host.readFile = (path) => files.get(path)?.text ?? readFile.call(host, path)
  host.getSourceFile = (path, language, onError, create) => {
    const module = files.get(path)
    return module ? ts.createSourceFile(path, module.text, language, true, ts.ScriptKind.TS) : getSourceFile.call(host, path, language, onError, create)
  }
  const program = ts.createProgram({ rootNames: [...files.keys()], options, host })
  const problems: Problem[] = []
  for (const diagnostic of [...program.getOptionsDiagnostics(), ...program.getGlobalDiagnostics()]) {
    problems.push({
      page: '(options)',
      line: 0,
      block: { page: '', line: 0, code: '', marker: undefined },
      message: ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n'),
    })
  }
  for (const module of modules) {
    const source = program.getSourceFile(module.path)
    if (!source) throw new Error(`${module.path} is not in the program`)
    for (const diagnostic of [...program.getSyntacticDiagnostics(source), ...program.getSemanticDiagnostics(source)]) {
      const at = diagnostic.start ?? 0
      const part = [...module.parts].reverse().find((p) => p.offset <= at) ?? module.parts[0]
      if (!part) continue
      const lineInModule = source.getLineAndCharacterOfPosition(at).line
      const lineOfPart = source.getLineAndCharacterOfPosition(part.offset).line
      problems.push({
        page: part.block.page,
        // the block's code starts on the line after its opening fence
        line: part.block.line + 1 + lineInModule - lineOfPart,
        block: part.block,
        message: ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n'),
      })
    }
  }
  return problems
}

/** The pages whose examples are checked: the README and every page of docs/. */
function pages(): string[] {
  const docs = existsSync(`${ROOT}docs`)
    ? readdirSync(`${ROOT}docs`)
        .filter((f) => f.endsWith('.md'))
        .map((f) => `docs/${f}`)
    : []
  return ['README.md', ...docs.sort()]
}

function numbered(code: string, firstLine: number): string {
  return code
    .trimEnd()
    .split('\n')
    .map((line, i) => `${String(firstLine + i).padStart(4)} | ${line}`)
    .join('\n')
}

t.test('every TypeScript example of README.md and docs/ compiles', async (t) => {
  const all = pages().flatMap((page) => {
    const blocks = extractBlocks(page, readFileSync(`${ROOT}${page}`, 'utf8'))
    return modulesOf(page, blocks)
  })
  const readmeModules = all.filter((m) => m.parts.some((p) => p.block.page === 'README.md'))
  t.ok(readmeModules.length > 0, 'README.md has TypeScript examples to check')
  const problems = check(all)
  for (const module of all) {
    for (const { block } of module.parts) {
      const own = problems.filter((p) => p.block === block)
      if (own.length === 0) t.pass(`${block.page}:${block.line} compiles`)
      else {
        t.fail(`${block.page}:${block.line} does not compile`, {
          diagnostics: own.map((p) => `${p.page}:${p.line}: ${p.message}`),
          block: numbered(block.code, block.line + 1),
        })
      }
    }
  }
  for (const p of problems.filter((p) => p.page === '(options)')) t.fail(`compiler options: ${p.message}`)
})

t.test('the check reports a type error, and an expected error that is not reported', async (t) => {
  const page = 'check.md'
  const markdown = [
    '<!-- file: tasks.ts -->',
    '```ts',
    "import { Type } from '@sinclair/typebox'",
    "import { defineTask } from 'shadows'",
    "export const greet = defineTask({ name: 'greet', params: Type.Object({ name: Type.String() }), run: async () => {} })",
    '```',
    '',
    '```ts',
    "import { Shadow } from 'shadows'",
    "import { greet } from './tasks.js'",
    'const shadow = new Shadow()',
    "await shadow.add(greet)({ nam: 'x' })",
    '```',
    '',
    '```ts',
    "import { Shadow } from 'shadows'",
    "import { greet } from './tasks.js'",
    'const shadow = new Shadow()',
    '// @ts-expect-error: the name is right, so nothing is reported',
    "await shadow.add(greet)({ name: 'x' })",
    '```',
    '',
    '<!-- not compiled -->',
    '```ts',
    'this is not TypeScript',
    '```',
  ].join('\n')
  const blocks = extractBlocks(page, markdown)
  t.equal(blocks.length, 4)
  const problems = check(modulesOf(page, blocks))
  const lines = problems.map((p) => p.line)
  t.same(lines, [12, 19], 'one problem in each broken block, on the line of the error')
  t.match(problems[0]?.message, /'nam' does not exist/)
  t.match(problems[1]?.message, /Unused '@ts-expect-error' directive/)
})
