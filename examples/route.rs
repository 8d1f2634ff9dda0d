//! Build a policy in code and ask where senders' mail goes.
//!
//! cargo run -p smarthost-examples --example route -- alice@shop.example

use smarthost_core::{Credentials, Policy, RelayHost, Secret, Smarthost, Username};

fn main() -> Result<(), smarthost_core::Error> {
    let mut policy = Policy::default();
    policy.set_server(
        Smarthost::new(RelayHost::parse("[smtp.sendgrid.net]:587")?).with_credentials(Credentials::new(
            Username::new("apikey")?,
            Secret::new("not-a-real-key".to_owned())?,
        )),
    )?;
    policy.set_domain(
        "shop.example".parse()?,
        Smarthost::new(RelayHost::parse("[smtp.eu.mailgun.org]:465")?),
    )?;

    let senders: Vec<String> = std::env::args().skip(1).collect();
    let senders = if senders.is_empty() {
        vec![
            "alice@shop.example".to_owned(),
            "bob@blog.example".to_owned(),
            "<>".to_owned(),
        ]
    } else {
        senders
    };
    for sender in senders {
        println!("{sender}: {}", policy.route(&sender)?);
    }
    Ok(())
}
