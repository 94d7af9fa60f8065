import type { Child } from 'hono/jsx'
import { CSRF_FIELD } from '../middleware/page-forms'

/** What every page needs from its request: the CSP nonce for its scripts and the CSRF token for its forms. */
export type PageContext = { nonce: string; csrf: string; productName: string }

/**
 * The frame of every page: language, title, the one stylesheet, and the page's scripts (each
 * with this response's nonce: the CSP allows nothing else).
 */
export function Layout(props: { page: PageContext; title: string; wide?: boolean; scripts?: string[]; children: Child }) {
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>{`${props.title} · ${props.page.productName}`}</title>
        <link rel="stylesheet" href="/pages/style.css" />
        {/* No icon: without this line a browser asks for /favicon.ico, a 404 in its console. */}
        <link rel="icon" href="data:," />
        {(props.scripts ?? []).map((name) => (
          <script src={`/pages/${name}.js`} nonce={props.page.nonce} defer />
        ))}
      </head>
      <body>
        <main class={props.wide ? 'wide' : undefined}>
          <h1>{props.title}</h1>
          {props.children}
        </main>
      </body>
    </html>
  )
}

/** A form of the pages: POST, with the CSRF token (and, when given, where to go afterwards). */
export function Form(props: {
  page: PageContext
  action: string
  returnTo?: string
  id?: string
  /** The page's script submits it once it has filled it (a mailed link's token). */
  'data-auto-submit'?: boolean
  children: Child
}) {
  return (
    <form method="post" action={props.action} id={props.id} data-auto-submit={props['data-auto-submit']}>
      <input type="hidden" name={CSRF_FIELD} value={props.page.csrf} />
      {props.returnTo !== undefined && <input type="hidden" name="return_to" value={props.returnTo} />}
      {props.children}
    </form>
  )
}

/** The reason a form was refused, announced (role="alert") in the problem's own words. */
export function Alert(props: { message: string | undefined }) {
  return props.message ? (
    <p class="alert" role="alert" id="form-error">
      {props.message}
    </p>
  ) : null
}

/** A labelled input, with its own error under it (tied by aria-describedby). */
export function Field(props: {
  id: string
  label: string
  type?: 'text' | 'email' | 'password'
  autocomplete?: string
  value?: string
  error?: string
  required?: boolean
  inputmode?: 'numeric' | 'text'
  autofocus?: boolean
}) {
  const errorId = `${props.id}-error`
  return (
    <>
      <label for={props.id}>{props.label}</label>
      <input
        id={props.id}
        name={props.id}
        type={props.type ?? 'text'}
        autocomplete={props.autocomplete}
        value={props.value}
        required={props.required ?? true}
        inputmode={props.inputmode}
        autofocus={props.autofocus}
        aria-invalid={props.error ? 'true' : undefined}
        aria-describedby={props.error ? errorId : undefined}
      />
      {props.error && (
        <p class="field-error" id={errorId}>
          {props.error}
        </p>
      )}
    </>
  )
}

/** The current password a sensitive step asks for first (field **Current password**). */
export function CurrentPassword(props: { error?: string; autofocus?: boolean }) {
  return (
    <Field
      id="current_password"
      label="Current password"
      type="password"
      autocomplete="current-password"
      error={props.error}
      autofocus={props.autofocus}
    />
  )
}
