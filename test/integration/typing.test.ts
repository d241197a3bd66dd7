/**
 * The params type follows the task's schema: test/fixtures/typing.ts holds calls that must not
 * compile (each marked @ts-expect-error, which tsc reports when the call compiles after all) and
 * calls that must.
 */
import t from 'tap'
import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import ts from 'typescript'

const root = fileURLToPath(new URL('../..', import.meta.url))
const fixture = fileURLToPath(new URL('../fixtures/typing.ts', import.meta.url))
const compilerFlags = ['--noEmit', '--strict', '--module', 'NodeNext', '--moduleResolution', 'NodeNext', '--target', 'ES2022', '--skipLibCheck']

t.test('tsc accepts the fixture: every wrong call is a type error, every right call compiles', async (t) => {
  const { code, output } = await new Promise<{ code: number | null; output: string }>((resolve) => {
    const child = execFile(
      process.execPath,
      ['node_modules/typescript/bin/tsc', ...compilerFlags, 'test/fixtures/typing.ts'],
      { cwd: root, timeout: 60_000 },
      (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : child.exitCode, output: `${stdout}${stderr}` }),
    )
  })
  t.equal(code, 0, 'tsc exits 0')
  t.equal(output.trim(), '', 'tsc reports nothing')
})

t.test('without the @ts-expect-error markers, exactly the marked lines fail to compile', async (t) => {
  const original = readFileSync(fixture, 'utf8')
  const lines = original.split('\n')
  const expected: number[] = []
  const stripped = lines.map((line, i) => {
    if (!/\/\/ @ts-expect-error/.test(line)) return line
    expected.push(i + 2) // the line after the marker, 1-based
    return ''
  })
  t.ok(expected.length >= 4, 'the fixture has wrong calls to check')
  t.ok(original.includes("shadow.add(greet)({ nam: 'x' })"), "the fixture checks add(greet)({ nam: 'x' })")
  const options: ts.CompilerOptions = {
    noEmit: true,
    strict: true,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    skipLibCheck: true,
  }
  const host = ts.createCompilerHost(options)
  const readFile = host.readFile.bind(host)
  const getSourceFile = host.getSourceFile.bind(host)
  const same = (a: string) => ts.sys.resolvePath(a) === ts.sys.resolvePath(fixture)
  host.readFile = (name) => (same(name) ? stripped.join('\n') : readFile(name))
  host.getSourceFile = (name, version, onError, create) =>
    same(name) ? ts.createSourceFile(name, stripped.join('\n'), version, true) : getSourceFile(name, version, onError, create)
  const program = ts.createProgram([fixture], options, host)
  const diagnostics = ts.getPreEmitDiagnostics(program)
  const failing = new Set<number>()
  const elsewhere: string[] = []
  for (const d of diagnostics) {
    const text = ts.flattenDiagnosticMessageText(d.messageText, '\n')
    if (d.file && same(d.file.fileName) && d.start !== undefined) failing.add(d.file.getLineAndCharacterOfPosition(d.start).line + 1)
    else elsewhere.push(text)
  }
  t.same(elsewhere, [], 'no errors outside the fixture')
  t.same(
    [...failing].sort((a, b) => a - b),
    expected,
    'errors on exactly the marked lines',
  )
})
