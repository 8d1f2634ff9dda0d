#![allow(dead_code)] // each test binary uses a different part of the support code
//! Shared helpers for the postfix-backend integration tests.

pub(crate) mod relay;
