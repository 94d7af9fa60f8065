ALTER TABLE `mail_tokens` ADD `first_factor` text;--> statement-breakpoint
ALTER TABLE `mail_tokens` ADD `attempts_left` integer;--> statement-breakpoint
-- The sign-in steps still waiting for their second proof move to the one store of one-time secrets;
-- spent and expired ones are left behind with their table.
INSERT INTO `mail_tokens` (`id`, `user_id`, `purpose`, `token_hash`, `bound_to`, `first_factor`, `attempts_left`, `created_at`, `expires_at`, `used_at`)
  SELECT `id`, `user_id`, 'mfa', `token_hash`, `bound_to`, `first_factor`, `attempts_left`, `created_at`, `expires_at`, `used_at`
  FROM `challenges` WHERE `used_at` IS NULL AND `expires_at` > CAST(unixepoch('subsec') * 1000 AS INTEGER);--> statement-breakpoint
DROP TABLE `challenges`;
