/**
 * Runs the benchmark harness (scripts/bench/run.mjs) as a child process for the bench tests, and
 * finds the keys a run may have left behind.
 */
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { Redis } from 'ioredis'

/** The repository's root. */
export const root = fileURLToPath(new URL('../../', import.meta.url))
/** The Redis the tests use. */
export const url = process.env.SHADOWS_TEST_URL ?? 'redis://127.0.0.1:6379'

/** One JSON line of the harness: a figure of one run, or (with `stat`) a median. */
export interface Figure {
  scenario: string
  figure: string
  system: string
  value: number
  unit: string
  stat?: string
  runs?: number
  pair?: number
}

/** Runs the harness with `args`; resolves with its exit code and output. */
export function runBench(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [`${root}/scripts/bench/run.mjs`, ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()))
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
    child.once('error', reject)
    child.once('close', (code) => resolve({ code, stdout, stderr }))
  })
}

/** Every key of the test Redis that matches `pattern`. */
export async function keysMatching(pattern: string): Promise<string[]> {
  const redis = new Redis(url, { lazyConnect: false })
  try {
    const found: string[] = []
    let cursor = '0'
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000)
      cursor = next
      found.push(...keys)
    } while (cursor !== '0')
    return found
  } finally {
    redis.disconnect()
  }
}
