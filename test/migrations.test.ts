import { applyD1Migrations } from 'cloudflare:test'
import { env } from 'cloudflare:workers'
import { describe, expect, it } from 'vitest'

/*
 * Migrations that move data, run as `wrangler d1 migrations apply` runs them on a deployed
 * database: the earlier ones, rows written as the code of that time wrote them, then the rest.
 */

const upTo = (name: string) => env.TEST_MIGRATIONS.filter((migration) => migration.name < name)

describe('0014: the sign-in steps join the one store of one-time secrets', () => {
  it('moves the live mfa tokens with their binding, first factor and attempts, leaves spent and expired ones, and drops their table', async () => {
    const db = env.TEST_BLANK
    await applyD1Migrations(db, upTo('0014'))
    const now = Date.now()
    await db.batch([
      db
        .prepare(
          "INSERT INTO users (id, username, username_normalized, email, password_hash, created_at, updated_at) VALUES ('u1', 'ada', 'ada', 'ada@example.com', 'h', ?, ?)",
        )
        .bind(now, now),
      ...[
        ['live', now + 300_000, null],
        ['spent', now + 300_000, now],
        ['expired', now - 1000, null],
      ].map(([id, expires, used]) =>
        db
          .prepare(
            "INSERT INTO challenges (id, token_hash, purpose, user_id, first_factor, bound_to, attempts_left, created_at, expires_at, used_at) VALUES (?, ?, 'mfa', 'u1', 'password', 'binding', 3, ?, ?, ?)",
          )
          .bind(id, `hash-${id}`, now, expires, used),
      ),
    ])
    await applyD1Migrations(db, env.TEST_MIGRATIONS)
    const moved = await db
      .prepare("SELECT id, purpose, token_hash, bound_to, first_factor, attempts_left, used_at FROM mail_tokens WHERE purpose = 'mfa'")
      .all()
    expect(moved.results).toEqual([
      {
        id: 'live',
        purpose: 'mfa',
        token_hash: 'hash-live',
        bound_to: 'binding',
        first_factor: 'password',
        attempts_left: 3,
        used_at: null,
      },
    ])
    const table = await db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'challenges'").first()
    expect(table).toBeNull()
  })
})
