-- States whose residents get no reward from a program (state patient-brokering and
-- fee-splitting laws), on top of the service's --excluded-states. USPS codes.
ALTER TABLE referral_programs ADD COLUMN excluded_states text[] NOT NULL DEFAULT '{}';
