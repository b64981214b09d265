//! Header parsing: parse -> encode gives the same bytes; prefixes need more, never panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sealstream_format::fuzzing::header(data));
