-- Where a program's new patients book their first consultation (#31): the welcome page
-- and emails lead there; unset, the platform's --booking-url.
ALTER TABLE referral_programs ADD COLUMN booking_url TEXT;
