/**
 * A self-contained reference page built in the browser from the OpenAPI document. It loads no
 * third-party script: an auth API's origin is the last place to run code from a CDN.
 */
export function docsPage(specUrl: string, nonce: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>edge-users API</title>
<style nonce="${nonce}">
  body { font: 15px/1.5 system-ui, sans-serif; margin: 0 auto; max-width: 960px; padding: 1rem 1.5rem; color: #1d1d1f; }
  h1 { margin-bottom: 0 } .lede { color: #555 }
  details { border: 1px solid #ddd; border-radius: 6px; margin: .5rem 0; padding: .4rem .8rem; }
  summary { cursor: pointer; } code, pre { font: 13px ui-monospace, monospace; }
  pre { background: #f6f8fa; padding: .6rem; overflow: auto; border-radius: 4px; }
  .method { display: inline-block; min-width: 4.5rem; font-weight: 700; text-transform: uppercase; }
  .get { color: #0969da } .post { color: #1a7f37 } .patch { color: #9a6700 } .delete { color: #cf222e }
</style>
</head>
<body>
<h1>edge-users API</h1>
<p class="lede">Generated from <a href="${specUrl}">${specUrl}</a>. Errors are RFC 9457 problem details.</p>
<main id="ops">Loading…</main>
<script type="module" nonce="${nonce}">
  const spec = await (await fetch(${JSON.stringify(specUrl)})).json();
  const resolve = (schema) => schema && schema.$ref ? spec.components.schemas[schema.$ref.split('/').pop()] : schema;
  const text = (tag, value, cls) => { const el = document.createElement(tag); el.textContent = value; if (cls) el.className = cls; return el; };
  const main = document.getElementById('ops');
  main.textContent = '';
  for (const [path, ops] of Object.entries(spec.paths)) {
    for (const [method, op] of Object.entries(ops)) {
      const box = document.createElement('details');
      const summary = document.createElement('summary');
      summary.append(text('span', method, 'method ' + method), text('code', path), text('span', ' — ' + (op.summary ?? '')));
      box.append(summary);
      if (op.description) box.append(text('p', op.description));
      const body = op.requestBody?.content?.['application/json']?.schema;
      if (body) box.append(text('h4', 'Request body'), text('pre', JSON.stringify(resolve(body), null, 2)));
      for (const [status, response] of Object.entries(op.responses ?? {})) {
        const content = Object.values(response.content ?? {})[0];
        box.append(text('h4', status + ' ' + (response.description ?? '')));
        if (content?.schema) box.append(text('pre', JSON.stringify(resolve(content.schema), null, 2)));
      }
      main.append(box);
    }
  }
</script>
</body>
</html>`
}

/** The docs page's CSP: its own inline script and style (by nonce) and fetches to this origin only. */
export const docsPolicy = (nonce: string) =>
  `default-src 'none'; script-src 'nonce-${nonce}'; style-src 'nonce-${nonce}'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'`
