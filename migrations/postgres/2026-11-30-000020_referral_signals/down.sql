DROP TABLE referral_signals;
