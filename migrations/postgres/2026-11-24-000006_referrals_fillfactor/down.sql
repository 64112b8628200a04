ALTER TABLE referrals RESET (fillfactor);
