-- "admin", "Admin" and "ADMIN" are one name to a person reading a log or an audit trail: keep
-- them one account. Usernames are ASCII (core::user::validate_username), so lower() folds
-- them the same way on both backends. Login still takes the name exactly as created.
CREATE UNIQUE INDEX users_username_folded ON users (lower(username));
