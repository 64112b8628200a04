-- See the PostgreSQL migration of the same name.
CREATE TABLE share_links (
    id            TEXT PRIMARY KEY,
    patient_id    TEXT NOT NULL REFERENCES patients(id),
    program_id    TEXT NOT NULL REFERENCES referral_programs(id),
    referral_code TEXT NOT NULL UNIQUE,
    clicks        BIGINT NOT NULL DEFAULT 0,
    created_at    TEXT NOT NULL,
    retired_at    TEXT
);
CREATE UNIQUE INDEX uq_share_links_open ON share_links(patient_id, program_id) WHERE retired_at IS NULL;
CREATE TABLE share_link_referrals (
    referral_id   TEXT PRIMARY KEY REFERENCES referrals(id),
    share_link_id TEXT NOT NULL REFERENCES share_links(id)
);
CREATE INDEX idx_share_link_referrals_link ON share_link_referrals(share_link_id);
