//! RecordingWriter: the in-memory ConfigWriter embedders test against.

use smarthost_core::{ConfigWriter, Policy, RecordingWriter, RelayHost, Smarthost};

#[test]
fn applies_plans_and_then_plans_nothing() {
    let writer = RecordingWriter::new(Policy::default());
    let mut desired = Policy::default();
    desired
        .set_server(Smarthost::new(RelayHost::parse("[smtp.example.com]:587").unwrap()))
        .unwrap();

    let plan = writer.plan(&desired).unwrap();
    assert!(!plan.is_empty());
    assert!(
        plan.render().contains("+* [smtp.example.com]:587 starttls -"),
        "{}",
        plan.render()
    );
    let applied = writer.apply(&plan).unwrap();
    assert!(applied.changed);
    assert_eq!(writer.read().unwrap().server, desired.server);
    assert_eq!(writer.applied().len(), 1);

    let again = writer.plan(&desired).unwrap();
    assert!(again.is_empty(), "the same policy twice plans nothing");
    assert!(!writer.apply(&again).unwrap().changed);
}

#[test]
fn refuses_a_stale_plan() {
    let writer = RecordingWriter::new(Policy::default());
    let mut a = Policy::default();
    a.set_server(Smarthost::new(RelayHost::parse("[a.example.com]:587").unwrap()))
        .unwrap();
    let mut b = Policy::default();
    b.set_server(Smarthost::new(RelayHost::parse("[b.example.com]:587").unwrap()))
        .unwrap();
    let plan_a = writer.plan(&a).unwrap();
    let plan_b = writer.plan(&b).unwrap();
    writer.apply(&plan_a).unwrap();
    assert!(writer.apply(&plan_b).is_err(), "plan_b was made against the old state");
    assert_eq!(writer.read().unwrap().server, a.server);
}

#[test]
fn a_boxed_writer_keeps_the_error_kind_and_the_backend_error() {
    use smarthost_core::{boxed, BoxedWriter, Classify, ErrorKind, RecordingError};

    let writer: BoxedWriter<'_> = boxed(RecordingWriter::new(Policy::default()));
    assert_eq!(writer.backend(), "recording");
    let mut desired = Policy::default();
    desired
        .set_server(Smarthost::new(RelayHost::parse("[smtp.example.com]:587").unwrap()))
        .unwrap();
    let plan = writer.plan(&desired).unwrap();
    // Another run changes the system between plan and apply.
    let mut other = Policy::default();
    other
        .set_server(Smarthost::new(RelayHost::parse("[other.example.com]:587").unwrap()))
        .unwrap();
    let second = writer.plan(&other).unwrap();
    writer.apply(&second).unwrap();

    let err = writer.apply(&plan).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Stale, "{err}");
    assert!(err.is_stale() && !err.is_locked() && !err.is_invalid());
    assert!(err.downcast_ref::<RecordingError>().is_some());
    assert!(err.to_string().contains("changed since the plan was made"), "{err}");
}
