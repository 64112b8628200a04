-- The platform reports patient facts (PUT /api/patients/{id}/facts). Whether the payer was
-- ever reported is kept apart from the payer itself: a patient never reported is treated
-- by --unknown-payer-policy (federal by default), not as commercial.
ALTER TABLE patients ADD COLUMN payer_reported boolean NOT NULL DEFAULT false;
ALTER TABLE patients ADD COLUMN facts_reported_at timestamptz;
