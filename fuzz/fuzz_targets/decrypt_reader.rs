//! Arbitrary objects through SealedReader/DecryptingReader, plus seal round trips and tampering.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sealstream_format::fuzzing::decrypt_reader(data));
