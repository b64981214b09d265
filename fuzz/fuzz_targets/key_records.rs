//! Key records and key blocks through the local and x25519 unwrap paths, the aws-kms matching
//! rules and the keyring's attempt limit: only authentic records unwrap.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sealstream_kms::fuzzing::key_records(data));
