/**
 * The parts of a worker wired by hand, as worker.ts wires them, for tests that drive one part
 * directly: each part takes its narrow context, so a test can hold or watch what it hands on.
 */
import type { Logger } from 'pino'
import { Worker, type AnyTask, type Shadow } from '../../src/index.js'
import { shadowContext } from '../../src/client/shadow.js'
import { workerLimits } from '../../src/redis/limits.js'
import type { WorkerContext } from '../../src/worker/context.js'
import { Outcomes, type Outcome, type WriteOutcomes } from '../../src/worker/outcomes.js'
import { ReadLoop } from '../../src/worker/read-loop.js'
import { Recovery } from '../../src/worker/recovery.js'
import { AttemptRunner } from '../../src/worker/runner.js'
import { Slots } from '../../src/worker/slots.js'
import { Starter } from '../../src/worker/starter.js'
import { testLogger, type TestLike } from './shadow.js'

/** A worker's parts, not started. */
export interface WorkerParts {
  readonly context: WorkerContext
  readonly slots: Slots
  readonly outcomes: Outcomes
  readonly runner: AttemptRunner
  readonly starter: Starter
  readonly readLoop: ReadLoop
  readonly recovery: Recovery
}

/** Options of {@link workerParts}. */
export interface WorkerPartsOptions {
  readonly name: string
  readonly concurrency?: number
  readonly logger?: Logger
  /** Replaces the outcome writer's finish-script call (see Outcomes). */
  readonly write?: (batch: readonly Outcome[], finish: WriteOutcomes) => Promise<unknown>
}

/** The parts of a worker named `name` on `shadow` running `tasks`; its reader closed on teardown. */
export function workerParts(t: TestLike, shadow: Shadow, tasks: readonly AnyTask[], options: WorkerPartsOptions): WorkerParts {
  const { redis, keys, strikes, executionTtl, historyLimit, eventsLimit } = shadowContext(shadow)
  const limits = workerLimits(tasks, 30_000)
  const context: WorkerContext = {
    redis,
    keys,
    strikes,
    executionTtl,
    historyLimit,
    eventsLimit,
    limits,
    name: options.name,
    logger: options.logger ?? testLogger,
  }
  // handed to tasks as ctx.worker; never run
  const worker = new Worker(shadow, { tasks: [], name: `${options.name}-handle`, logger: context.logger })
  const slots = new Slots(options.concurrency ?? 10)
  const outcomes = new Outcomes(context, options.write)
  const runner = new AttemptRunner({ ...context, slots, outcomes, observer: undefined, handles: { shadow, worker } })
  const starter = new Starter({
    ...context,
    registry: new Map(tasks.map((task) => [task.name, task])),
    unknownTasks: { firstDelay: 1_000, maxDelay: 60_000, timeout: 3_600_000 },
    maxDeliveries: 5,
    startBatch: 500,
    slots,
    runner,
    outcomes,
    observer: undefined,
  })
  const readLoop = new ReadLoop({ ...context, slots, starter, outcomes, readBlock: 200, drainCheck: 100 })
  const recovery = new Recovery({ ...context, runner, outcomes, starter })
  t.teardown(async () => {
    slots.close()
    starter.stop()
    readLoop.stop()
    readLoop.disconnect()
    await worker.close()
  })
  return { context, slots, outcomes, runner, starter, readLoop, recovery }
}
