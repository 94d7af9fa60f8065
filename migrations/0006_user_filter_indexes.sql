-- The admin list's role and disabled filters read only matching rows, not the whole table.
CREATE INDEX `users_staff_idx` ON `users` (`role`,`id`) WHERE role <> 'user';--> statement-breakpoint
CREATE INDEX `users_disabled_idx` ON `users` (`id`) WHERE disabled = 1;