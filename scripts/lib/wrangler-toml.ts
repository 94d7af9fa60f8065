/**
 * Values read from wrangler.toml without importing wrangler (its module alone takes about 3 s to
 * load here). Only `key = value` lines whose value is a TOML basic string or an array of them, which
 * is all this project writes in `[vars]` and `[triggers]`; a value of another shape is an error, not
 * a guess.
 */
import { readFileSync } from 'node:fs'

const HEADER = /^\s*\[\[?\s*([A-Za-z0-9_.-]+)\s*\]\]?\s*(?:#.*)?$/
// A basic string, or an array of them, then an optional comment. Cron strings may contain '#'.
const ENTRY = /^\s*([A-Za-z0-9_-]+)\s*=\s*("(?:[^"\\]|\\.)*"|\[(?:\s*"(?:[^"\\]|\\.)*"\s*,?)*\s*\])\s*(?:#.*)?$/

function tableValue(table: string, key: string, file: string): unknown {
  let current = ''
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const header = HEADER.exec(line)
    if (header) {
      current = header[1]!
      continue
    }
    if (current !== table || !new RegExp(`^\\s*${key}\\s*=`).test(line)) continue
    const entry = ENTRY.exec(line)
    if (!entry) throw new Error(`${file}: [${table}] ${key} is not a string or an array of strings on one line`)
    // TOML's basic strings escape as JSON's do for everything these values hold.
    return JSON.parse(entry[2]!.replace(/,\s*\]$/, ']'))
  }
  return undefined
}

/** A `[vars]` value as wrangler passes it to the worker (always a string in this project). */
export function wranglerVar(name: string, file = 'wrangler.toml'): string | undefined {
  const value = tableValue('vars', name, file)
  if (value !== undefined && typeof value !== 'string') throw new Error(`${file}: [vars] ${name} must be a string`)
  return value
}

/** The Cron Triggers' schedules, `[triggers] crons`. */
export function wranglerCrons(file = 'wrangler.toml'): string[] {
  const value = tableValue('triggers', 'crons', file)
  return Array.isArray(value) ? value : []
}
