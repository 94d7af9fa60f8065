/**
 * The API reference: Swagger UI, a maintained renderer with "try it", reading this API's OpenAPI
 * document. Its code is served from this origin (Workers Static Assets, /docs-assets/), never from
 * a CDN: an auth API's origin is the last place to run someone else's live code.
 */
export function docsPage(specUrl: string, nonce: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>edge-users API reference</title>
<link rel="stylesheet" href="/docs-assets/swagger-ui.css">
<link rel="icon" href="data:,">
</head>
<body>
<div id="reference"></div>
<script src="/docs-assets/swagger-ui-bundle.js" nonce="${nonce}"></script>
<script nonce="${nonce}">
  window.reference = SwaggerUIBundle({
    url: ${JSON.stringify(specUrl)},
    dom_id: '#reference',
    deepLinking: true,
    displayRequestDuration: true,
    tryItOutEnabled: false,
    persistAuthorization: false,
  })
</script>
</body>
</html>`
}

/**
 * The docs page's CSP: scripts from this origin with the page's nonce, Swagger UI's stylesheet and
 * the inline styles it sets on elements, its inline SVG images, and calls to this origin only.
 */
export const docsPolicy = (nonce: string) =>
  `default-src 'none'; script-src 'nonce-${nonce}'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'`
