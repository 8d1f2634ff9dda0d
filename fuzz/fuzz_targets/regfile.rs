//! The `.reg` reader: `decode` and `parse` never panic, and the values a
//! file sets below `SOFTWARE\`, written back with `render` and `encode`,
//! read back the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailenable_backend::regfile::{self, RegLine};
use mailenable_backend::Registry;

fuzz_target!(|data: &[u8]| {
    let Some(text) = regfile::decode(data) else {
        return;
    };
    let Ok(registry) = regfile::parse("fuzz.reg", &text) else {
        return;
    };
    // `render` writes keys of the 32-bit view below SOFTWARE\, as the
    // backend uses them.
    let sections: Vec<(String, Vec<RegLine>)> = registry
        .keys()
        .filter(|(key, _)| key.starts_with("SOFTWARE\\"))
        .map(|(key, values)| {
            let lines = values
                .iter()
                .map(|(name, data)| RegLine::Set(name.clone(), data.clone()))
                .collect();
            (key.to_owned(), lines)
        })
        .collect();
    let Ok(rendered) = regfile::render(&sections) else {
        return; // a line break or NUL in a string: refused, as documented
    };
    let decoded = regfile::decode(&regfile::encode(&rendered)).expect("encode gives UTF-16LE with a BOM");
    assert_eq!(decoded, rendered);
    let again = regfile::parse("again.reg", &decoded)
        .unwrap_or_else(|e| panic!("a rendered file does not parse: {e}\n{rendered}"));
    for (key, lines) in &sections {
        for line in lines {
            let RegLine::Set(name, data) = line else { continue };
            assert_eq!(
                again.get(key, name).unwrap().as_ref(),
                Some(data),
                "{key:?} {name:?}\n{rendered}"
            );
        }
    }
});
