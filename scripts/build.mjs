// Compiles src/ and routes/ to dist/src/ and dist/routes/, and copies the Lua scripts and the
// dashboard's files (HTML, CSS, JavaScript modules served as they are) beside the compiled code.
import { execFileSync } from 'node:child_process'
import { chmodSync, cpSync, existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
// compiled files are overwritten in place (no wipe first), so that processes already running from
// dist/ — tests in parallel, a dev server — never see it disappear
execFileSync(process.execPath, [`${root}/node_modules/typescript/bin/tsc`, '-p', `${root}/tsconfig.json`], { stdio: 'inherit' })
cpSync(`${root}/src/redis/lua`, `${root}/dist/src/redis/lua`, { recursive: true })
cpSync(`${root}/routes/ui/assets`, `${root}/dist/routes/ui/assets`, { recursive: true })
if (existsSync(`${root}/dist/src/cli/main.js`)) chmodSync(`${root}/dist/src/cli/main.js`, 0o755)
