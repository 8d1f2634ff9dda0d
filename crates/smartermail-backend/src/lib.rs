//! SmarterMail backend: not implemented yet.
//!
//! This crate holds its place in the workspace. The backend (outbound
//! gateways through SmarterMail's web API) is tracked as its own issue; until
//! it lands, the CLI answers `--backend smartermail` with "not implemented yet".
#![deny(missing_docs)]
