/**
 * How `npm run oidc:check` reports: one line per check, `ok` or `FAIL`, and under a failure what
 * the server answered. A flow is a chain of steps where each needs the one before (no refresh
 * without a token), so a failed step ends its flow, and the steps after it are not counted as run.
 */
import { exchangeCount, exchangesSince } from './trace.ts'

type Result = { flow: string; ok: boolean; what: string }

const results: Result[] = []
let currentFlow = ''

const indent = (text: string) =>
  text
    .split('\n')
    .map((line) => `       ${line}`)
    .join('\n')

export function check(ok: boolean, what: string, detail?: string): boolean {
  results.push({ flow: currentFlow, ok, what })
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`)
  if (!ok && detail) console.log(indent(detail))
  return ok
}

/** Thrown once a step failed and was reported: it ends the flow without a second report. */
class StepFailed extends Error {}

/** A check that ends the flow when it fails, for what later steps rely on. */
export function ensure(ok: boolean, what: string, detail?: string): asserts ok {
  if (!check(ok, what, detail)) throw new StepFailed(what)
}

/**
 * Runs one step of a flow: it passes when `run` resolves; when it throws, the step fails with the
 * error (its OAuth error, its status, its cause) and every request the step made with its answer.
 */
export async function step<T>(what: string, run: () => Promise<T>): Promise<T> {
  const start = exchangeCount()
  try {
    const value = await run()
    check(true, what)
    return value
  } catch (error) {
    if (error instanceof StepFailed) throw error
    const requests = exchangesSince(start).map(({ request, answer }) => `${request}\n  → ${answer}`)
    check(false, what, [await describe(error), ...(requests.length ? ['requests:', ...requests] : [])].join('\n'))
    throw new StepFailed(what)
  }
}

/** Runs a flow; a step that failed ends it, anything else thrown is reported as a failure of the flow. */
export async function flow(name: string, run: () => Promise<void>): Promise<void> {
  currentFlow = name
  console.log(`\n== ${name}`)
  try {
    await run()
  } catch (error) {
    if (error instanceof StepFailed) console.log(`     (the rest of "${name}" did not run)`)
    else check(false, `${name}: an unexpected error`, await describe(error))
  }
}

/** An error as openid-client, oauth4webapi, the MCP SDK or Playwright throw it, with what it carries of the server's answer. */
export async function describe(error: unknown, depth = 0): Promise<string> {
  if (!(error instanceof Error)) return String(error)
  const fields = error as Error & { code?: unknown; status?: unknown; error?: unknown; error_description?: unknown; cause?: unknown }
  const lines = [`${error.name}: ${error.message}`]
  const extra = [
    fields.code !== undefined ? `code ${String(fields.code)}` : '',
    typeof fields.status === 'number' ? `status ${fields.status}` : '',
    typeof fields.error === 'string' ? `error ${fields.error}` : '',
    typeof fields.error_description === 'string' ? `error_description "${fields.error_description}"` : '',
  ].filter(Boolean)
  if (extra.length) lines.push(extra.join(', '))
  const cause = fields.cause
  if (cause instanceof Response) {
    let body = ''
    try {
      body = await cause.clone().text()
    } catch {
      body = '(body already read)'
    }
    lines.push(`answer: ${cause.status} ${cause.url} ${body.slice(0, 600)}`)
  } else if (cause instanceof URLSearchParams) {
    lines.push(`parameters: ${cause}`)
  } else if (cause instanceof Error && depth < 3) {
    lines.push(`cause: ${await describe(cause, depth + 1)}`)
  } else if (cause !== undefined) {
    lines.push(`cause: ${JSON.stringify(cause).slice(0, 800)}`)
  }
  return lines.join('\n')
}

/** Prints every flow's tally and the failed checks again, and says whether all passed. */
export function summary(): boolean {
  const failed = results.filter((result) => !result.ok)
  console.log('\n== Summary')
  const flows = [...new Set(results.map((result) => result.flow))]
  for (const name of flows) {
    const own = results.filter((result) => result.flow === name)
    const bad = own.filter((result) => !result.ok).length
    console.log(`${bad === 0 ? 'ok  ' : 'FAIL'} ${name}: ${own.length - bad} of ${own.length} checks passed`)
  }
  for (const result of failed) console.log(`  failed: ${result.flow}: ${result.what}`)
  return failed.length === 0 && results.length > 0
}
