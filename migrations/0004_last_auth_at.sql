ALTER TABLE `users` ADD `last_auth_at` integer;
--> statement-breakpoint
-- Until now a login was the only way to prove the password.
UPDATE `users` SET `last_auth_at` = `last_login_at`;
