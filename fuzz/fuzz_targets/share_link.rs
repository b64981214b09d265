//! Share links: parse -> print -> parse is stable; no Debug/Display shows the key or a signature.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sealstream_s3::fuzzing::share_link(data));
