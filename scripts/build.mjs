// Compiles src/ to dist/ and copies the Lua scripts beside the compiled code.
import { execFileSync } from 'node:child_process'
import { chmodSync, cpSync, existsSync, rmSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
rmSync(`${root}/dist`, { recursive: true, force: true })
execFileSync(process.execPath, [`${root}/node_modules/typescript/bin/tsc`, '-p', `${root}/tsconfig.json`], { stdio: 'inherit' })
cpSync(`${root}/src/redis/lua`, `${root}/dist/redis/lua`, { recursive: true })
if (existsSync(`${root}/dist/cli/main.js`)) chmodSync(`${root}/dist/cli/main.js`, 0o755)
