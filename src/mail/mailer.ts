/** A rendered mail: both parts, so every client can show it. */
export type Mail = { to: string; subject: string; text: string; html: string }

/**
 * Where mail goes out. The queue consumer only knows this interface, so an operator can put an
 * HTTP provider behind it without touching routes or the consumer.
 */
export interface Mailer {
  send(mail: Mail): Promise<void>
}

/** Cloudflare Email Service through the `send_email` binding. */
export function emailServiceMailer(binding: SendEmail, from: string): Mailer {
  return {
    async send(mail) {
      await binding.send({ from, to: mail.to, subject: mail.subject, text: mail.text, html: mail.html })
    },
  }
}
