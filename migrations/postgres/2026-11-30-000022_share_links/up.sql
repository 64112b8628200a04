-- A patient's personal share link per program (#24): one open link each, retired links
-- answer 410; the referrals made through a link, and its clicks.
CREATE TABLE share_links (
    id            uuid PRIMARY KEY,
    patient_id    uuid NOT NULL REFERENCES patients(id),
    program_id    uuid NOT NULL REFERENCES referral_programs(id),
    referral_code text NOT NULL UNIQUE,
    clicks        bigint NOT NULL DEFAULT 0,
    created_at    timestamptz NOT NULL,
    retired_at    timestamptz
);
CREATE UNIQUE INDEX uq_share_links_open ON share_links(patient_id, program_id) WHERE retired_at IS NULL;
CREATE TABLE share_link_referrals (
    referral_id   uuid PRIMARY KEY REFERENCES referrals(id),
    share_link_id uuid NOT NULL REFERENCES share_links(id)
);
CREATE INDEX idx_share_link_referrals_link ON share_link_referrals(share_link_id);
