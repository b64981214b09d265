//! Key records and key blocks through the local and x25519 unwrap paths, the aws-kms and
//! aws-kms-batch matching rules, the aws-kms-batch record layout and the keyring's attempt
//! limit: only authentic records unwrap, malformed batch records never reach KMS.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sealstream_kms::fuzzing::key_records(data));
