/**
 * Request and response schemas of /strikes.
 */
import { Type } from '@sinclair/typebox'
import { MAX_STRIKE_VALUE_BYTES, STRIKE_OPERATORS } from '../../src/index.js'
import { Timestamp, literals } from '../../src/gateway/contract.js'

const JsonValue = Type.Unknown({ description: 'A JSON value; [lo, hi] for between.' })

/** A strike value as given: bounded in bytes, which a JSON Schema of any JSON value cannot say, so the library checks it. */
const JsonValueInput = Type.Unknown({
  description: `A JSON value; [lo, hi] for between. At most ${MAX_STRIKE_VALUE_BYTES} bytes as canonical JSON (UTF-8, object keys sorted, no spaces); a larger one is refused with 400 SHADOWS_ERR_VALIDATION.`,
})

/** A stored strike. */
export const StrikeBody = Type.Object(
  {
    id: Type.String(),
    task: Type.Optional(Type.String()),
    parameter: Type.Optional(Type.String()),
    operator: literals(STRIKE_OPERATORS),
    value: Type.Optional(JsonValue),
    createdAt: Timestamp,
  },
  { additionalProperties: false },
)

/** Body of POST /strikes. */
export const StrikeInputBody = Type.Object(
  {
    task: Type.Optional(Type.String()),
    parameter: Type.Optional(Type.String()),
    operator: Type.Optional(literals(STRIKE_OPERATORS)),
    value: Type.Optional(JsonValueInput),
  },
  { additionalProperties: false },
)

/** 200 of GET /strikes. */
export const StrikeList = Type.Object(
  { strikes: Type.Array(StrikeBody) },
  { additionalProperties: false, 'x-response-description': 'The strike rules in force, oldest first.' },
)

/** The path parameter of /strikes/{id}. */
export const IdParams = Type.Object({ id: Type.String({ description: 'The strike id.' }) })
