//! MailEnable backend: not implemented yet.
//!
//! This crate holds its place in the workspace. The backend (registry and
//! `.reg` file writer, tested under Wine) is tracked as its own issue; until
//! it lands, the CLI answers `--backend mailenable` with "not implemented yet".
#![deny(missing_docs)]
