/**
 * What a process that writes task history and events keeps (gateway and worker alike): the flags,
 * and the shadow options they make. Every process of a shadow had better be given the same.
 */
import type { ShadowOptions } from '../client/shadow.js'
import { intFlag, type Flag, type ParsedFlags } from './flags.js'

export const RETENTION_FLAGS: readonly Flag[] = [
  { name: 'execution-ttl', type: 'string', env: 'SHADOWS_EXECUTION_TTL', description: 'ms a finished task stays readable', default: '900000' },
  {
    name: 'history-limit',
    type: 'string',
    env: 'SHADOWS_HISTORY_LIMIT',
    description: 'most finished tasks listable per state (0: no history)',
    default: '10000',
  },
  { name: 'events-limit', type: 'string', env: 'SHADOWS_EVENTS_LIMIT', description: 'most events the events log keeps (0: no events)', default: '10000' },
]

/** The shadow options the retention flags give. */
export type Retention = Partial<Pick<ShadowOptions, 'executionTtl' | 'historyLimit' | 'eventsLimit'>>

const OPTIONS = [
  ['executionTtl', 'execution-ttl'],
  ['historyLimit', 'history-limit'],
  ['eventsLimit', 'events-limit'],
] as const

/**
 * The retention flags, checked (a usage error names a bad one); a command without them gives none
 * (the shadow's defaults apply).
 */
export function retentionOptions(flags: ParsedFlags): Retention {
  const options: { -readonly [K in keyof Retention]: number } = {}
  for (const [option, flag] of OPTIONS) {
    const value = intFlag(flags, flag, 0)
    if (value !== undefined) options[option] = value
  }
  return options
}
