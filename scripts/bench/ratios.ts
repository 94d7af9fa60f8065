/**
 * The benchmark's targets are ratios of measured figures. declared-ratios.ts declares them as a list
 * (a name, a numerator, a denominator, and for a target a direction and a limit); `assess` turns the
 * list and one run's measurements into the Markdown rows, the JSON entries and the verdicts, so each
 * ratio is written down once.
 */

/** The floors, each a bare worker's p50 for a route minus its p50 for a no-op, in ms. */
export type Floors = {
  pbkdf2_ms: number
  pbkdf2_amortised_ms: number
  d1_round_trip_ms: number
  d1_session_round_trip_ms: number
  /** Each statement after the first of a batch in a session (floor-worker.ts /d1-batch). */
  d1_batch_statement_ms: number
}

/** The table a ratio is printed in; `peer` and `scale` only when the run measured them. */
export type Group = 'floors' | 'peer' | 'scale'
const GROUP_TITLES: Record<Group, string> = {
  floors: 'against the floors',
  peer: 'against the peers (Better Auth, workers-oauth-provider)',
  scale: 'at 100000 users against 1000',
}

/** What one run measured, by endpoint name; NaN for what it did not measure. */
export type Measured<Name extends string = string> = {
  /** p50 latency at concurrency 1, ms. */
  p50: (name: Name) => number
  /** Throughput at concurrency 8, requests a second. */
  rps: (name: Name) => number
  /** p50 latency at concurrency 1 in the `--scale` run with this many users, ms. */
  p50At: (users: number, name: Name) => number
  floors: Floors
  groups: Group[]
}

/** One side of a ratio: how it reads, and its value in a run. */
export type Term<Name extends string = string> = { label: string; digits: number; of: (measured: Measured<Name>) => number }

const FLOOR_LABELS: Record<keyof Floors, string> = {
  pbkdf2_ms: 'pbkdf2',
  pbkdf2_amortised_ms: 'pbkdf2 (amortised)',
  d1_round_trip_ms: 'd1 round trip',
  d1_session_round_trip_ms: 'd1 round trip in a session',
  d1_batch_statement_ms: 'd1 statement in a batch',
}

/** The terms ratios are written in, checked against the endpoint names the run measures. */
export function terms<Name extends string>() {
  type T = Term<Name>
  return {
    p50: (name: Name): T => ({ label: `p50(${name})`, digits: 2, of: (m) => m.p50(name) }),
    rps: (name: Name): T => ({ label: `rps(${name})`, digits: 1, of: (m) => m.rps(name) }),
    p50At: (users: number, name: Name): T => ({ label: `p50(${name}) at ${users} users`, digits: 2, of: (m) => m.p50At(users, name) }),
    floor: (key: keyof Floors): T => ({ label: FLOOR_LABELS[key], digits: 2, of: (m) => m.floors[key] }),
    plus: (a: T, b: T): T => ({ label: `(${a.label} + ${b.label})`, digits: Math.max(a.digits, b.digits), of: (m) => a.of(m) + b.of(m) }),
    minus: (a: T, b: T): T => ({ label: `(${a.label} − ${b.label})`, digits: Math.max(a.digits, b.digits), of: (m) => a.of(m) - b.of(m) }),
  }
}

export type Direction = 'at most' | 'at least'

/** A ratio to print; with a direction and a target, one to judge. */
export type RatioDefinition<Name extends string = string> = {
  /** Its key in the JSON report. */
  name: string
  group: Group
  numerator: Term<Name>
  denominator: Term<Name>
} & ({ direction: Direction; target: number } | { direction?: undefined; target?: undefined })

export type Verdict = 'met' | 'missed' | 'not measured' | 'for reference'

export type AssessedRatio = {
  ratio: string
  group: Group
  numerator: number | null
  denominator: number | null
  value: number | null
  direction: Direction | null
  target: number | null
  verdict: Verdict
}

const SIGN: Record<Direction, string> = { 'at most': '≤', 'at least': '≥' }
const fixed = (value: number, digits = 2) => (Number.isFinite(value) ? value.toFixed(digits) : 'n/a')
const orNull = (value: number) => (Number.isFinite(value) ? value : null)

function verdictOf(value: number, direction: Direction | undefined, target: number | undefined): Verdict {
  if (direction === undefined || target === undefined) return 'for reference'
  // A ratio whose endpoints `--only` left out is not measured, not missed.
  if (!Number.isFinite(value)) return 'not measured'
  return (direction === 'at most' ? value <= target : value >= target) ? 'met' : 'missed'
}

/**
 * Every ratio of the groups the run measured, evaluated: a Markdown table per group, one JSON
 * entry per ratio (by name), and how many targets were met, missed and not measured.
 */
export function assess<Name extends string>(definitions: RatioDefinition<Name>[], measured: Measured<Name>) {
  const ran = definitions.filter(({ group }) => measured.groups.includes(group))
  const json: Record<string, AssessedRatio> = {}
  const rows = new Map<Group, string[]>()
  const count = { met: 0, missed: 0, not_measured: 0 }
  for (const { name, group, numerator, denominator, direction, target } of ran) {
    const [top, bottom] = [numerator.of(measured), denominator.of(measured)]
    const value = top / bottom
    const verdict = verdictOf(value, direction, target)
    if (verdict === 'met') count.met++
    if (verdict === 'missed') count.missed++
    if (verdict === 'not measured') count.not_measured++
    const ratio = `${numerator.label} / ${denominator.label}`
    json[name] = {
      ratio,
      group,
      numerator: orNull(top),
      denominator: orNull(bottom),
      value: orNull(value),
      direction: direction ?? null,
      target: target ?? null,
      verdict,
    }
    const judged = direction === undefined ? verdict : `${SIGN[direction]} ${target}: ${verdict === 'missed' ? 'MISSED' : verdict}`
    const row = `| ${ratio} | ${fixed(top, numerator.digits)} / ${fixed(bottom, denominator.digits)} | ${fixed(value)} | ${judged} |`
    rows.set(group, [...(rows.get(group) ?? []), row])
  }
  const markdown = [...rows].flatMap(([group, lines]) => [
    '',
    `| ratio ${GROUP_TITLES[group]} | numerator / denominator | value | target |`,
    '|---|---:|---:|---|',
    ...lines,
  ])
  const summary = `Targets: ${count.met} met, ${count.missed} missed, ${count.not_measured} not measured.`
  return { markdown: [...markdown, '', summary], json, count }
}
