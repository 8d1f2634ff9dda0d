//! Load a policy file and render it for Postfix into a folder, as a hosting
//! panel would before shipping the files to a server.
//!
//! cargo run -p smarthost-examples --example render_postfix -- [POLICY] [DIR]

use postfix_backend::{PostfixOptions, PostfixWriter};
use smarthost_core::{ConfigWriter, Policy};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let policy_path = args
        .next()
        .unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/policy.toml").to_owned());
    let dir = args.next().unwrap_or_else(|| "demo-render".to_owned());

    let policy = Policy::load(policy_path.as_ref())?;
    let writer = PostfixWriter::new(PostfixOptions::render_into(&dir));
    let plan = writer.plan(&policy)?;
    print!("{}", plan.render());
    let applied = writer.apply(&plan)?;
    println!(
        "{} file(s) written into {dir}",
        if applied.changed { plan.files().count() } else { 0 }
    );
    Ok(())
}
