-- Leave a tenth of each page free, so that the click counter's in-place updates stay on
-- their page (HOT: no index entries to write; no index covers clicks or last_clicked_at).
ALTER TABLE referrals SET (fillfactor = 90);
