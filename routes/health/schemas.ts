/**
 * Response schema of the health routes.
 */
import { Type } from '@sinclair/typebox'

/** 200 of the health routes. */
export const Health = Type.Object({ status: Type.Literal('ok') }, { additionalProperties: false, 'x-response-description': 'OK.' })
