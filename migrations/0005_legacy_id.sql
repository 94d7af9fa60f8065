ALTER TABLE `users` ADD `legacy_id` integer;--> statement-breakpoint
CREATE UNIQUE INDEX `users_legacy_id_unique` ON `users` (`legacy_id`);