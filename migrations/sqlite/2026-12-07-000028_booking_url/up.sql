-- Where a program's new patients book their first consultation (#31): the welcome page
-- and emails lead there; unset, the platform's --booking-url. The database holds the rule
-- the domain checks (referral_domain::program::is_booking_url): https, at most 500.
ALTER TABLE referral_programs ADD COLUMN booking_url TEXT
    CHECK (booking_url IS NULL
           OR (lower(substr(booking_url, 1, 8)) = 'https://' AND length(booking_url) BETWEEN 9 AND 500));
