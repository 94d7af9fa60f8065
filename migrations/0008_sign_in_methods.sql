CREATE TABLE `identities` (
	`id` text PRIMARY KEY NOT NULL,
	`user_id` text NOT NULL,
	`provider` text NOT NULL,
	`subject` text NOT NULL,
	`email` text,
	`created_at` integer NOT NULL,
	`last_used_at` integer,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `identities_provider_subject_unique` ON `identities` (`provider`,`subject`);--> statement-breakpoint
CREATE INDEX `identities_user_id_idx` ON `identities` (`user_id`);--> statement-breakpoint
CREATE TABLE `passkeys` (
	`id` text PRIMARY KEY NOT NULL,
	`user_id` text NOT NULL,
	`credential_id` text NOT NULL,
	`public_key` text NOT NULL,
	`counter` integer DEFAULT 0 NOT NULL,
	`transports` text,
	`backed_up` integer DEFAULT false NOT NULL,
	`name` text NOT NULL,
	`created_at` integer NOT NULL,
	`last_used_at` integer,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `passkeys_credential_id_unique` ON `passkeys` (`credential_id`);--> statement-breakpoint
CREATE INDEX `passkeys_user_id_idx` ON `passkeys` (`user_id`);--> statement-breakpoint
CREATE TABLE `recovery_codes` (
	`id` text PRIMARY KEY NOT NULL,
	`user_id` text NOT NULL,
	`code_hash` text NOT NULL,
	`created_at` integer NOT NULL,
	`used_at` integer,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `recovery_codes_user_code_unique` ON `recovery_codes` (`user_id`,`code_hash`);--> statement-breakpoint
CREATE TABLE `totp_factors` (
	`user_id` text PRIMARY KEY NOT NULL,
	`secret` text NOT NULL,
	`created_at` integer NOT NULL,
	`confirmed_at` integer,
	`last_step` integer DEFAULT 0 NOT NULL,
	`last_used_at` integer,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
DROP TABLE `spent_refresh_tokens`;--> statement-breakpoint
DROP INDEX `sessions_refresh_token_hash_unique`;--> statement-breakpoint
-- A session records how it was opened. SQLite adds a NOT NULL column only with a default; the
-- defaults say what the sessions already there hold (opened by a password alone, proved when they
-- were created). Every new session writes all three itself.
ALTER TABLE `sessions` ADD `auth_time` integer NOT NULL DEFAULT 0;--> statement-breakpoint
UPDATE `sessions` SET `auth_time` = `created_at`;--> statement-breakpoint
ALTER TABLE `sessions` ADD `amr` text NOT NULL DEFAULT '["pwd"]';--> statement-breakpoint
ALTER TABLE `sessions` ADD `aal` text NOT NULL DEFAULT 'aal1';--> statement-breakpoint
-- password_hash becomes nullable (an account may have no password). Not by rebuilding `users`: on
-- D1 foreign keys are always enforced, so dropping the old table would cascade to every session,
-- mail token and factor. The column is copied into a new one instead, then swapped in.
ALTER TABLE `users` ADD `password_hash_nullable` text;--> statement-breakpoint
UPDATE `users` SET `password_hash_nullable` = `password_hash`;--> statement-breakpoint
ALTER TABLE `users` DROP COLUMN `password_hash`;--> statement-breakpoint
ALTER TABLE `users` RENAME COLUMN `password_hash_nullable` TO `password_hash`;
