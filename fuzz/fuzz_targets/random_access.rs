//! Arbitrary objects and offsets through RandomAccess::read_at and RandomAccessReader.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sealstream_format::fuzzing::random_access(data));
