CREATE TABLE `challenges` (
	`id` text PRIMARY KEY NOT NULL,
	`token_hash` text NOT NULL,
	`purpose` text NOT NULL,
	`user_id` text NOT NULL,
	`first_factor` text NOT NULL,
	`bound_to` text NOT NULL,
	`attempts_left` integer NOT NULL,
	`created_at` integer NOT NULL,
	`expires_at` integer NOT NULL,
	`used_at` integer,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `challenges_token_hash_unique` ON `challenges` (`token_hash`);--> statement-breakpoint
CREATE INDEX `challenges_user_id_idx` ON `challenges` (`user_id`);--> statement-breakpoint
ALTER TABLE `users` ADD `pending_email` text;