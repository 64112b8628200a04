ALTER TABLE referrals DROP COLUMN sms_on_device;
ALTER TABLE referral_programs DROP COLUMN sms_delivery;
DROP TABLE sms_consents;
