/**
 * The pages' one stylesheet, served from this origin (GET /pages/style.css). Plain CSS: system
 * fonts, contrast above WCAG AA in both colour schemes, a visible focus ring on everything that
 * takes focus.
 */
export const STYLESHEET = `
:root { color-scheme: light dark; --fg: #1b1b1f; --bg: #fafafa; --muted: #4a4a55; --line: #c8c8d0; --accent: #1f4fd1; --accent-fg: #fff; --alert-bg: #fdecea; --alert-fg: #8a1c12; --ok-bg: #e8f5e9; --ok-fg: #1b5e20; }
@media (prefers-color-scheme: dark) { :root { --fg: #ececf1; --bg: #16161a; --muted: #b4b4c0; --line: #44444e; --accent: #8fb0ff; --accent-fg: #0b0b10; --alert-bg: #3a1512; --alert-fg: #ffb4a9; --ok-bg: #12301a; --ok-fg: #a5d6a7; } }
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); background: var(--bg); }
main { max-width: 32rem; margin: 2rem auto; padding: 0 1rem 3rem; }
main.wide { max-width: 44rem; }
h1 { font-size: 1.6rem; margin: 0 0 1rem; }
h2 { font-size: 1.2rem; margin: 2rem 0 .5rem; padding-top: 1rem; border-top: 1px solid var(--line); }
p { margin: .5rem 0; }
label { display: block; font-weight: 600; margin: 1rem 0 .25rem; }
input[type=text], input[type=email], input[type=password] { width: 100%; padding: .6rem; font: inherit; color: inherit; background: transparent; border: 1px solid var(--muted); border-radius: 6px; }
button, .button { display: inline-block; margin: 1rem .5rem 0 0; padding: .6rem 1rem; font: inherit; font-weight: 600; border-radius: 6px; border: 1px solid var(--accent); background: var(--accent); color: var(--accent-fg); cursor: pointer; text-decoration: none; }
button.secondary, .button.secondary { background: transparent; color: var(--accent); }
a { color: var(--accent); }
:focus-visible { outline: 3px solid var(--accent); outline-offset: 2px; }
.alert { margin: 1rem 0; padding: .75rem 1rem; border-radius: 6px; background: var(--alert-bg); color: var(--alert-fg); }
.notice { margin: 1rem 0; padding: .75rem 1rem; border-radius: 6px; background: var(--ok-bg); color: var(--ok-fg); }
.field-error { color: var(--alert-fg); margin: .25rem 0 0; }
.hint { color: var(--muted); font-size: .9rem; }
ul.items { list-style: none; padding: 0; }
ul.items li { padding: .5rem 0; border-bottom: 1px solid var(--line); }
ul.items form { display: inline; }
ul.items button { margin: .25rem 0 0; padding: .3rem .7rem; }
code, .secret { font-family: ui-monospace, monospace; word-break: break-all; }
ol.codes { columns: 2; font-family: ui-monospace, monospace; }
img.qr { display: block; width: 12rem; height: 12rem; margin: 1rem 0; background: #fff; padding: .5rem; }
nav.links { margin-top: 1.5rem; }
nav.links a { display: inline-block; margin-right: 1rem; }
[hidden] { display: none !important; }
`
