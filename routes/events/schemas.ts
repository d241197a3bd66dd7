/**
 * Request and response schemas of /events.
 */
import { Type } from '@sinclair/typebox'
import { EVENT_TYPES } from '../../src/index.js'

/** The query of GET /events: filters, all optional. */
export const EventsQuery = Type.Object({
  task: Type.Optional(Type.String({ description: 'Only the events of this task name (and the strike rules that name it or no task).' })),
  key: Type.Optional(Type.String({ description: 'Only the events of the task with this key (no strike events).' })),
  type: Type.Optional(Type.String({ description: `Only events of these types, comma-separated: ${EVENT_TYPES.join(', ')}.`, examples: ['failed,retrying'] })),
})

/** The headers GET /events reads. */
export const EventsHeaders = Type.Object({
  'last-event-id': Type.Optional(
    Type.String({
      description:
        'Resume just after this event (the id: of the last event received): the events since come first, from the capped log, with no gap. Absent: from now, no replay. An event id is <ms>-<sequence>.',
      examples: ['1764324000000-0'],
    }),
  ),
})

/** The stream's description in the API docs. */
const STREAM_DESCRIPTION = [
  'A Server-Sent Events stream; its headers come at once. One event per transition:',
  '`id:` the event id (send it back as Last-Event-ID to resume), `event:` the type, `data:` one line of JSON',
  '`{ type, key, task, at, attempt?, state?, error?, progress?, strike? }` (strike and restore events carry the rule as `strike`, and no key).',
  'A stream without Last-Event-ID opens with an `id:` line alone (no data, so no event): the id to resume from if it drops before its first event.',
  'A comment line (`: keep-alive`) comes every 15 s. A client that reads too slowly is sent `event: dropped` and the stream ends;',
  'when the gateway shuts down the stream ends too: reconnect with Last-Event-ID.',
].join(' ')

/** 200 of GET /events: not JSON, a stream of events. */
export const EventStream = {
  description: STREAM_DESCRIPTION,
  content: {
    'text/event-stream': {
      schema: Type.String({
        description: 'id: 1764324000000-0\\nevent: failed\\ndata: {"type":"failed","key":"order-42","task":"charge","at":"2026-11-28T10:00:00.000Z",…}\\n\\n',
      }),
    },
  },
}
