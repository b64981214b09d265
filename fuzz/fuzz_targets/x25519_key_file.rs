//! X25519 public and secret key files and key text: reference agreement, round trips.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sealstream_kms::fuzzing::x25519_key_file(data));
