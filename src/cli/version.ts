/**
 * `shadows version`: the package's version, from its package.json.
 */
import { existsSync, readFileSync } from 'node:fs'
import type { Command } from './command.js'

/**
 * The version in this installation's package.json: the nearest one above this module whose name
 * is shadows (the module runs from src/cli/ or from dist/src/cli/).
 */
export function packageVersion(): string {
  for (let dir = new URL('./', import.meta.url); ; dir = new URL('../', dir)) {
    const file = new URL('package.json', dir)
    if (existsSync(file)) {
      const manifest = JSON.parse(readFileSync(file, 'utf8')) as { name?: unknown; version?: unknown }
      if (manifest.name === 'shadows' && typeof manifest.version === 'string') return manifest.version
    }
    if (dir.pathname === '/') return 'unknown'
  }
}

export const version: Command = {
  name: 'version',
  usage: 'shadows version',
  summary: "Prints shadows' version.",
  flags: [],
  async run(context) {
    context.out(packageVersion())
    return 0
  },
}
