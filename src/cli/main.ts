#!/usr/bin/env node
/**
 * The entry of the `shadows` command. It listens for SIGTERM and SIGINT before anything else loads
 * (see early-signals.ts), then loads the command line itself.
 */
import { listenEarly } from './early-signals.js'

listenEarly()
const { runCli } = await import('./run.js')
await runCli(process.argv.slice(2))
