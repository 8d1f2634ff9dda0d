//! SPF records: parse, print, parse again. What parses prints back byte for
//! byte and parses to the same record; every term's canonical form (what
//! `merge` writes) parses to the same term; `merge` never panics and gives
//! a valid record that evaluates the relay's include, and merging twice
//! changes nothing.
#![no_main]

use libfuzzer_sys::fuzz_target;
use smarthost_core::spf::{merge, SpfRecord, Term};

fuzz_target!(|data: &str| {
    if let Ok(record) = SpfRecord::parse(data) {
        let printed = record.to_string();
        assert_eq!(printed, data);
        let again = SpfRecord::parse(&printed).expect("a printed record parses");
        assert_eq!(again, record);
        for term in record.terms() {
            let canonical = term.to_string();
            let reparsed = Term::parse(&canonical).unwrap_or_else(|e| panic!("{canonical:?}: {e}"));
            assert_eq!(&reparsed, term, "{canonical:?}");
        }
        let _ = (record.lookups(), record.warnings(), record.unreached());
    }
    for word in data.split(' ') {
        if let Ok(term) = Term::parse(word) {
            assert_eq!(Term::parse(&term.to_string()).ok(), Some(term), "{word:?}");
        }
    }
    let include = Term::parse("include:sendgrid.net").unwrap();
    let txt = [data.to_owned(), "v=spf1 mx -all".to_owned()];
    for records in [&txt[..1], &txt[..]] {
        if let Ok(merged) = merge(records, &include) {
            let record = SpfRecord::parse(&merged.record)
                .unwrap_or_else(|e| panic!("merge of {records:?} gave {:?}: {e}", merged.record));
            assert!(record.reaches(&include), "{:?}", merged.record);
            let twice = merge(std::slice::from_ref(&merged.record), &include).unwrap();
            assert!(!twice.changed, "{:?} -> {:?}", merged.record, twice.record);
        }
    }
});
