/**
 * `npm run mails [-- --to ADDRESS] [--limit N]`: the latest mails this checkout's dev server sent,
 * newest first: to, subject, and each link. It asks the running `npm run dev` through wrangler's
 * Local Explorer API, which keeps every mail a send_email binding sent during the dev session.
 */
import { parseArgs } from 'node:util'
import { findRunningDevServer } from './lib/dev-server.ts'

type Listed = { messageId: string; subject: string; to: string[]; sentAt: string }
type Page<T> = { success: boolean; result: T; result_info?: { has_more: boolean; cursor?: string } }

const EXPLORER = '/cdn-cgi/local/explorer/api/local/email/sending'
const LINK = /https?:\/\/[^\s"'<>]+/g

async function explorer<T>(base: string, query: URLSearchParams): Promise<T> {
  const response = await fetch(`${base}${EXPLORER}?${query}`)
  const body = (await response.json()) as Page<T>
  if (!response.ok || !body.success) throw new Error(`the dev server's Local Explorer answered ${response.status}`)
  return body.result
}

/** The mail's text part, as the explorer's detail gives it (its shape differs across versions). */
function textOf(detail: Record<string, unknown>): string {
  for (const key of ['text', 'textBody', 'body']) if (typeof detail[key] === 'string') return detail[key] as string
  return JSON.stringify(detail)
}

async function main() {
  const { values } = parseArgs({ options: { to: { type: 'string' }, limit: { type: 'string', default: '10' } } })
  const server = await findRunningDevServer()
  if (!server) {
    console.error('No dev server of this checkout is running: start `npm run dev`, then ask again.')
    process.exit(1)
  }
  const listed = await explorer<Listed[]>(server.base, new URLSearchParams({ per_page: '100' }))
  const wanted = listed
    .filter((mail) => !values.to || mail.to.some((to) => to.toLowerCase() === values.to?.toLowerCase()))
    .sort((a, b) => b.sentAt.localeCompare(a.sentAt))
    .slice(0, Number(values.limit))
  if (wanted.length === 0) console.log(values.to ? `No mail to ${values.to} yet.` : 'No mail sent yet.')
  for (const mail of wanted) {
    const detail = await explorer<Record<string, unknown>>(server.base, new URLSearchParams({ email_id: mail.messageId }))
    const links = [...new Set(textOf(detail).match(LINK) ?? [])]
    console.log(`${mail.sentAt}  to ${mail.to.join(', ')}\n  ${mail.subject}${links.map((link) => `\n  ${link}`).join('')}\n`)
  }
}

await main()
