//! `SqliteStore`: being written (issue #9).
