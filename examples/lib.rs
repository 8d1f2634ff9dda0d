//! Runnable examples of the smarthost libraries; see the `[[example]]`
//! targets (`cargo run -p smarthost-examples --example render_postfix`).
//! `cargo test --workspace` builds them, so they stay in step with the API.
