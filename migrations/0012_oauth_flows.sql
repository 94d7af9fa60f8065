CREATE TABLE `oauth_flows` (
	`id` text PRIMARY KEY NOT NULL,
	`provider` text NOT NULL,
	`purpose` text NOT NULL,
	`link_user_id` text,
	`ticket_hash` text,
	`state_hash` text,
	`browser_hash` text,
	`secrets` text,
	`redirect_uri` text NOT NULL,
	`code_challenge` text,
	`created_at` integer NOT NULL,
	`expires_at` integer NOT NULL,
	`called_back_at` integer,
	`user_id` text,
	`code_hash` text,
	`code_expires_at` integer,
	`exchanged_at` integer,
	FOREIGN KEY (`link_user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `oauth_flows_state_hash_unique` ON `oauth_flows` (`state_hash`);--> statement-breakpoint
CREATE UNIQUE INDEX `oauth_flows_code_hash_unique` ON `oauth_flows` (`code_hash`);--> statement-breakpoint
CREATE UNIQUE INDEX `oauth_flows_ticket_hash_unique` ON `oauth_flows` (`ticket_hash`);--> statement-breakpoint
CREATE INDEX `oauth_flows_expires_at_idx` ON `oauth_flows` (`expires_at`);