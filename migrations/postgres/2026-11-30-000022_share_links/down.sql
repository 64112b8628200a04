DROP TABLE share_link_referrals;
DROP TABLE share_links;
