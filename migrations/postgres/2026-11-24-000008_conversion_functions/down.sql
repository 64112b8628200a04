DROP FUNCTION IF EXISTS referral_conversion_apply(text);
DROP FUNCTION IF EXISTS referral_event_begin(text, uuid, uuid, bigint, timestamptz, timestamptz, boolean, timestamptz, timestamptz);
