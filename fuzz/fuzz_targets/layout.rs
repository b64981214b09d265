//! Arbitrary u64s through body_len, plaintext_len, chunk_body_range and plan_range.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sealstream_format::fuzzing::layout(data));
