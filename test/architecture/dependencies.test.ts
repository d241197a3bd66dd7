/**
 * The code keeps its dependency rules (scripts/dependencies.mjs says which): parts depend one way,
 * routes use only the public API and the gateway's contract, nothing but the app imports routes,
 * the HTTP client (shadows/client) loads only its own files at run time, and no import cycle. The checker itself is tried on small made-up trees that break each rule.
 */
import t from 'tap'
import { fileURLToPath } from 'node:url'
// @ts-expect-error a plain ES module of the repository's scripts, without type declarations
import { checkDependencies, readSources } from '../../scripts/dependencies.mjs'

type Check = (files: Map<string, string>) => string[]
const check = checkDependencies as Check
const ROOT = fileURLToPath(new URL('../../', import.meta.url))

t.test('the code of src/ and routes/ keeps every rule', async (t) => {
  const problems = check((readSources as (root: string) => Map<string, string>)(ROOT))
  t.same(problems, [], problems.join('\n'))
})

/** A made-up tree: path → source text. */
const tree = (files: Record<string, string>) => new Map(Object.entries(files))

t.test('the checker finds each kind of breach', async (t) => {
  t.same(check(tree({ 'src/core/a.ts': "import { b } from './b.js'", 'src/core/b.ts': 'export const b = 1' })), [], 'a clean tree passes')

  t.match(
    check(tree({ 'src/core/a.ts': "import { Shadow } from '../client/shadow.js'", 'src/client/shadow.ts': 'export class Shadow {}' })),
    [/src\/core\/a\.ts -> src\/client\/shadow\.ts: core may not import client/],
    'core importing client',
  )
  t.match(
    check(tree({ 'src/redis/x.ts': "import type { W } from '../worker/w.js'", 'src/worker/w.ts': 'export type W = 1' })),
    [/redis may not import worker/],
    'a type-only import against the layers',
  )
  t.same(
    check(
      tree({
        'src/core/task.ts': "import type { Shadow } from '../client/shadow.js'\nimport type { Worker } from '../worker/worker.js'",
        'src/client/shadow.ts': "import { defineTask } from '../core/task.js'",
        'src/worker/worker.ts': "import type { Shadow } from '../client/shadow.js'\nimport { defineTask } from '../core/task.js'",
      }),
    ),
    [],
    'the TaskContext types are the one allowed exception, cycle included',
  )
  t.match(
    check(tree({ 'routes/x/index.ts': "import { Shadow } from '../../src/client/shadow.js'", 'src/client/shadow.ts': '' })),
    [/routes may not import client/, /routes use only the public API/],
    'a route reaching past the public API',
  )
  t.same(
    check(
      tree({
        'routes/x/index.ts': "import { Shadow } from '../../src/index.js'\nimport { errors } from '../../src/gateway/contract.js'",
        'src/index.ts': '',
        'src/gateway/contract.ts': '',
      }),
    ),
    [],
    'a route using the public API and the contract',
  )
  t.match(
    check(tree({ 'src/cli/x.ts': "import { routes } from '../../routes/index.js'", 'routes/index.ts': '' })),
    [/cli may not import routes/, /only src\/gateway\/app\.ts imports routes/],
    'something other than the app importing routes',
  )
  t.match(
    check(tree({ 'src/worker/a.ts': "import { b } from './b.js'\nexport const a = 1", 'src/worker/b.ts': "import { a } from './a.js'\nexport const b = 2" })),
    [/import cycle at run time: src\/worker\/a\.ts, src\/worker\/b\.ts/],
    'a cycle at run time',
  )
  t.match(
    check(
      tree({
        'src/worker/a.ts': "import type { B } from './b.js'\nexport type A = 1",
        'src/worker/b.ts': "import type { A } from './a.js'\nexport type B = 2",
      }),
    ),
    [/import cycle of types: src\/worker\/a\.ts, src\/worker\/b\.ts/],
    'a cycle of types',
  )
  t.match(
    check(tree({ 'src/worker/a.ts': "const m = await import('../cli/main.js')", 'src/cli/main.ts': '' })),
    [/worker may not import cli/],
    'a dynamic import',
  )
})

t.test('the HTTP client loads only its own files at run time', async (t) => {
  t.same(
    check(
      tree({
        'src/http-client/client.ts':
          "import type { Static } from '@sinclair/typebox'\nimport type { AddBody } from '../../routes/tasks/schemas.js'\n" +
          "import type { ErrorCode } from '../core/errors.js'\nimport type { ErrorBody } from '../gateway/contract.js'\nimport { x } from './x.js'",
        'src/http-client/x.ts': 'export const x = 1',
        'routes/tasks/schemas.ts': '',
        'src/core/errors.ts': '',
        'src/gateway/contract.ts': '',
      }),
    ),
    [],
    "types from the routes' schemas, core, the contract and a package; its own files at run time",
  )
  t.match(
    check(tree({ 'src/http-client/a.ts': "import { AddBody } from '../../routes/tasks/schemas.js'", 'routes/tasks/schemas.ts': '' })),
    [/the HTTP client loads only its own files at run time/],
    "a route's schema loaded at run time",
  )
  t.match(
    check(tree({ 'src/http-client/a.ts': "import { request } from 'node:http'\nimport { Type } from '@sinclair/typebox'" })),
    [/node:http: the HTTP client loads no package/, /@sinclair\/typebox: the HTTP client loads no package/],
    'a node: module or a package at run time',
  )
  t.match(
    check(tree({ 'src/http-client/a.ts': "import type { X } from '../../routes/tasks/index.js'", 'routes/tasks/index.ts': '' })),
    [/only src\/gateway\/app\.ts imports routes/],
    "a route's plugin rather than its schemas",
  )
  t.match(
    check(tree({ 'src/http-client/a.ts': "import type { X } from '../gateway/app.js'", 'src/gateway/app.ts': '' })),
    [/uses only the types of src\/gateway\/contract\.ts/],
    'a gateway module other than the contract',
  )
  t.match(
    check(tree({ 'src/http-client/a.ts': "import type { X } from '../client/shadow.js'", 'src/client/shadow.ts': '' })),
    [/http-client may not import client/],
    'the library',
  )
  t.match(
    check(tree({ 'src/core/a.ts': "import type { X } from '../http-client/index.js'", 'src/http-client/index.ts': '' })),
    [/core may not import http-client/],
    'the library depending on the HTTP client',
  )
})
