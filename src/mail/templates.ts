import type { Mail } from './mailer'

const escapeHtml = (value: string) =>
  value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;')

function lifetime(seconds: number): string {
  if (seconds % 86_400 === 0) return seconds === 86_400 ? '24 hours' : `${seconds / 86_400} days`
  if (seconds % 3600 === 0) return seconds === 3600 ? '1 hour' : `${seconds / 3600} hours`
  const minutes = Math.ceil(seconds / 60)
  return minutes === 1 ? '1 minute' : `${minutes} minutes`
}

type Paragraphs = { lead: string; action?: { label: string; link: string }; after: string[] }

/** What every mail is made from: its recipient, and the product's name (PRODUCT_NAME) it signs with. */
type MailInput = { to: string; product: string; link: string; ttlSeconds: number }

/** One layout for every mail: the same words in the text part and, escaped, in the HTML part. */
function compose(input: MailInput, subject: string, body: Paragraphs): Mail {
  const { to, product } = input
  const text = [body.lead, ...(body.action ? [`${body.action.label}:\n${body.action.link}`] : []), ...body.after, `— ${product}`].join(
    '\n\n',
  )
  const action = body.action
    ? `<p><a href="${escapeHtml(body.action.link)}">${escapeHtml(body.action.label)}</a></p>\n<p style="word-break:break-all">${escapeHtml(body.action.link)}</p>\n`
    : ''
  const html =
    `<!doctype html>\n<html><body style="font-family:sans-serif;line-height:1.5">\n<p>${escapeHtml(body.lead)}</p>\n${action}` +
    body.after.map((line) => `<p>${escapeHtml(line)}</p>\n`).join('') +
    `<p>— ${escapeHtml(product)}</p>\n</body></html>\n`
  return { to, subject, text, html }
}

export function passwordResetMail(input: MailInput): Mail {
  const { product } = input
  return compose(input, `Reset your ${product} password`, {
    lead: `Someone asked to reset the password of the ${product} account for ${input.to}.`,
    action: { label: 'Choose a new password', link: input.link },
    after: [
      `The link works once, for ${lifetime(input.ttlSeconds)}. Setting a new password signs you out everywhere.`,
      'If you did not ask for this, ignore this mail: your password stays as it is.',
    ],
  })
}

export function verificationMail(input: MailInput): Mail {
  const { product } = input
  return compose(input, `Confirm your email address for ${product}`, {
    lead: `Confirm that ${input.to} is the address of your ${product} account.`,
    action: { label: 'Confirm this address', link: input.link },
    after: [
      `The link works once, for ${lifetime(input.ttlSeconds)}.`,
      `If you did not sign up for ${product}, someone used your address: do not confirm it; ask for a password reset with this address instead, which makes the account yours and removes whatever they added.`,
    ],
  })
}

/** The new address with its local part hidden: enough for the owner to recognise, little for anyone else. */
const masked = (email: string) => email.replace(/^(.)[^@]*@/, '$1***@')

/** To a new address: the link that makes it the account's (until then nothing changes). */
export function emailChangeMail(input: MailInput): Mail {
  const { product } = input
  return compose(input, `Confirm your new email address for ${product}`, {
    lead: `Someone asked to make ${input.to} the address of a ${product} account.`,
    action: { label: 'Make this my address', link: input.link },
    after: [
      `The link works once, for ${lifetime(input.ttlSeconds)}. The account keeps its old address until it is used.`,
      'If you did not ask for this, ignore this mail and do not follow the link: it would give your address to an account that is not yours.',
    ],
  })
}

/** To the old address once a change is confirmed: the warning, and the link that undoes it. */
export function emailChangedMail(input: MailInput & { newEmail: string }): Mail {
  const { product } = input
  return compose(input, `Your ${product} email address was changed`, {
    lead: `The email address of your ${product} account was changed from ${input.to} to ${masked(input.newEmail)}.`,
    action: { label: 'This was not me: put my address back', link: input.link },
    after: [
      `If you made this change, there is nothing to do. If you did not, the link (valid for ${lifetime(input.ttlSeconds)}) puts ${input.to} back and signs everyone out; then reset your password from this mailbox.`,
    ],
  })
}

export function invitationMail(input: MailInput & { organization: string; roles: string[] }): Mail {
  const { product } = input
  return compose(input, `You are invited to ${input.organization} on ${product}`, {
    lead: `You are invited to join ${input.organization} on ${product}, as ${input.roles.join(', ')}.`,
    action: { label: 'Accept the invitation', link: input.link },
    after: [
      `The link works once, for ${lifetime(input.ttlSeconds)}, from the ${product} account whose confirmed address is ${input.to}.`,
      'If you did not expect this, ignore this mail: nothing happens unless you accept.',
    ],
  })
}
