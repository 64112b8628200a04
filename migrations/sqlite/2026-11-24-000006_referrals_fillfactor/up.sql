-- SQLite has no fillfactor; this keeps both migration sets in step.
SELECT 1;
