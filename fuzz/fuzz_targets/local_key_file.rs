//! Local key file contents: the parser agrees with a reference parser and never echoes the key.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sealstream_kms::fuzzing::local_key_file(data));
