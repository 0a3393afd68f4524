-- The table LogPaste creates, unchanged: a store.db written by LogPaste already has it,
-- and its own migration bookkeeping tables are left alone.
CREATE TABLE IF NOT EXISTS entries (
    id TEXT PRIMARY KEY,
    creation_time TEXT,
    contents TEXT
);
