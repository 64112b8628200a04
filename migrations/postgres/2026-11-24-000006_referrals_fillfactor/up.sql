-- Leave 30% of each page free, so that the click counter's in-place updates stay on their
-- page (HOT: no index entries to write; no index covers clicks or last_clicked_at). A row
-- is about 230 bytes; with 10% free a page held too few new versions between prunes and a
-- third of the counter updates moved to other pages (measured by bench/load.sh).
ALTER TABLE referrals SET (fillfactor = 70);
