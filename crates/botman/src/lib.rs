//! botman: run named bots on cron schedules.
//!
//! This crate is the library face of botman. Today it re-exports the cron
//! engine ([`Cron`]); the scheduler, runner, events and stores land on top
//! of it (see the project's DESIGN.md).
//!
//! ```
//! use botman::Cron;
//!
//! let cron: Cron = "*/5 * * * *".parse()?;
//! let after = "2025-01-01T00:02:00+00:00[UTC]".parse()?;
//! assert_eq!(cron.next_after(&after).unwrap().minute(), 5);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub use botman_cron::{Cron, CronIter, Field, ParseError, ParseErrorKind};

/// The README's Rust examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;
