/**
 * The layers of src/, checked in CI (`npm run lint`). From the bottom up:
 *   lib/                small primitives (encoding, ids, memoisation): import nothing of ours
 *   db/                 tables, queries and write units: lib/, the role names and assurance types only
 *   auth/               hashing, tokens, keys, key derivation, roles: no HTTP schemas, routes or
 *                       middleware, and no configuration: each module declares the settings it
 *                       needs and config/ satisfies them
 *   config/             the settings (settings.ts), their parsers (parsers.ts) and cross-field
 *                       checks (checks.ts), parsed once per isolate (index.ts): lib/ and auth/ below it
 *   schemas/            request and response shapes shared by routes
 *   sign-in/            the pipeline every way of proving who one is goes through: routes ask it,
 *                       it asks auth/, db/ and the limiter; it knows no route or middleware
 *   factors/            enrolment and management of second factors (TOTP, passkeys, recovery
 *                       codes): above sign-in/, whose proof checks and challenges it uses
 *   http/ middleware/ rate-limit/ routes/ app.ts index.ts   the HTTP side
 * and routes never import one another.
 */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'A cycle means two modules are one module split in two, or a layer points the wrong way.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'lib-is-a-leaf',
      severity: 'error',
      from: { path: '^src/lib/' },
      to: { path: '^src/', pathNot: '^src/lib/' },
    },
    {
      name: 'db-knows-no-app',
      severity: 'error',
      comment: 'db/ is reused by the Node scripts (admin promote, bench, import): it must not need the app, its env or HTTP.',
      from: { path: '^src/db/' },
      to: { path: '^src/', pathNot: ['^src/db/', '^src/lib/', '^src/auth/roles\\.ts$', '^src/auth/assurance\\.ts$'] },
    },
    {
      name: 'auth-knows-no-http',
      severity: 'error',
      from: { path: '^src/auth/' },
      to: { path: '^src/(schemas|routes|middleware|http|rate-limit|app|app-env|index)(/|\\.ts$)' },
    },
    {
      name: 'auth-knows-no-config',
      severity: 'error',
      comment:
        'config/ builds what auth/ needs (keys, peppers, providers); auth/ declaring its own settings keeps the arrow pointing down.',
      from: { path: '^src/auth/' },
      to: { path: '^src/config(/|\\.ts$)' },
    },
    {
      name: 'views-are-shapes',
      severity: 'error',
      comment: 'A view turns a row into what a client sees: it reads types, never the database or HTTP.',
      from: { path: '^src/views/' },
      to: { path: '^src/', pathNot: ['^src/views/', '^src/lib/', '^src/db/schema\\.ts$'] },
    },
    {
      name: 'views-are-for-answers',
      severity: 'error',
      comment: 'Only the HTTP half (routes, http/) turns rows into what a client sees; the layers below return rows and outcomes.',
      from: { path: '^src/(sign-in|factors|db|auth|config|rate-limit|mail|jobs)/' },
      to: { path: '^src/views/' },
    },
    {
      name: 'pages-are-a-top-layer',
      severity: 'error',
      comment: 'The hosted pages are an HTTP face like routes/: the layers below never know them, and routes never render one.',
      from: { path: '^src/(sign-in|factors|db|auth|config|rate-limit|mail|jobs|views|schemas|routes)/' },
      to: { path: '^src/pages/' },
    },
    {
      name: 'schemas-know-no-handlers',
      severity: 'error',
      from: { path: '^src/schemas/' },
      to: { path: '^src/(routes|middleware|http|rate-limit|app|index)(/|\\.ts$)' },
    },
    {
      name: 'sign-in-knows-no-routes',
      severity: 'error',
      comment: 'Routes call the sign-in layer, never the other way round.',
      from: { path: '^src/sign-in/' },
      to: { path: '^src/(routes|middleware|http|app|index)(/|\\.ts$)' },
    },
    {
      name: 'sign-in-knows-no-http',
      severity: 'error',
      comment:
        'The pipeline takes a SignInContext and returns outcomes and grants, so pages and an authorization endpoint can call it; http/ turns them into answers (the token pair, mfa_required) and hands a provider flow its browser binding and origin.',
      from: { path: '^src/sign-in/' },
      to: { path: ['node_modules/hono/', '^src/schemas/'] },
    },
    {
      name: 'oidc-knows-no-http',
      severity: 'error',
      comment:
        'The OpenID Provider core (clients, and next authorize and tokens) takes a SignInContext like the sign-in pipeline, so a route, a page and a test call the same functions.',
      from: { path: '^src/oidc/' },
      to: { path: ['node_modules/hono/', '^src/schemas/', '^src/(routes|pages|http|middleware|views)/'] },
    },
    {
      name: 'sign-in-knows-no-enrolment',
      severity: 'error',
      comment: 'Enrolment builds on the pipeline (its checks, its challenges); the pipeline never needs enrolment.',
      from: { path: '^src/sign-in/' },
      to: { path: '^src/factors/' },
    },
    {
      name: 'factors-know-no-http',
      severity: 'error',
      comment: 'Enrolment takes a SignInContext and the signed-in account, as the pipeline does.',
      from: { path: '^src/factors/' },
      to: { path: ['^src/(routes|middleware|http|app|index)(/|\\.ts$)', 'node_modules/hono/'] },
    },
    {
      name: 'errors-know-no-http',
      severity: 'error',
      comment: 'The problem catalog and ApiError serve every caller; http/problem-response.ts turns a problem into an answer.',
      from: { path: '^src/errors\\.ts$' },
      to: { path: ['node_modules/hono/', '^src/(app-env|http|routes|middleware)(/|\\.ts$)'] },
    },
    {
      name: 'limiter-client-knows-no-http',
      severity: 'error',
      comment:
        'The limiter is made from its namespace and settings, so any caller (a page, an authorization endpoint, a script) asks it alike.',
      from: { path: '^src/rate-limit/client\\.ts$' },
      to: { path: ['node_modules/hono/', '^src/(schemas|routes|middleware|http|app|app-env)(/|\\.ts$)'] },
    },
    {
      name: 'proofs-are-checked-in-sign-in',
      severity: 'error',
      comment: 'A proof is checked in one place: only the sign-in layer may import the password check.',
      from: { path: '^src/', pathNot: '^src/sign-in/' },
      to: { path: '^src/auth/password-check\\.ts$' },
    },
    {
      name: 'routes-are-independent',
      severity: 'error',
      comment: 'What two routers share belongs in schemas/, db/ or middleware/.',
      from: { path: '^src/routes/([^/]+)\\.ts$' },
      to: { path: '^src/routes/', pathNot: '^src/routes/$1\\.ts$' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    exclude: { path: '^src/auth/common-passwords\\.ts$' },
  },
}
