//! Amazon S3 Encryption Client metadata and instruction files: parsing never panics, and what
//! it accepts is consistent.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sealstream_s3::s3ec::fuzz_metadata(data));
