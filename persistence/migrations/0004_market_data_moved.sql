-- Candles live in a file of their own beside the journal (persistence/candles.py):
-- their writes no longer queue behind, or commit between, the journal's group
-- commits. Journal.open copies the rows to that file before this runs.

DROP INDEX IF EXISTS candles_by_time;
DROP TABLE IF EXISTS candles;
