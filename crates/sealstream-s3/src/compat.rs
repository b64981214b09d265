//! Tolerance for S3-compatible servers whose SSE response headers the SDK
//! cannot parse.
//!
//! SeaweedFS answers a ranged GET of an SSE-C object with its SSE-C
//! response headers repeated, which the SDK rejects ("Failed to parse
//! SSECustomerKeyMD5"). The headers are informational on a GET (the
//! server already checked the key), so a repeated one is reduced to its
//! first value before the response is parsed.

use aws_sdk_s3::config::interceptors::BeforeDeserializationInterceptorContextMut;
use aws_sdk_s3::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_s3::error::BoxError;

const SSE_RESPONSE_HEADERS: [&str; 4] = [
    "x-amz-server-side-encryption",
    "x-amz-server-side-encryption-customer-algorithm",
    "x-amz-server-side-encryption-customer-key-MD5",
    "x-amz-server-side-encryption-aws-kms-key-id",
];

#[derive(Debug)]
pub(crate) struct SseHeaderCompat;

impl Intercept for SseHeaderCompat {
    fn name(&self) -> &'static str {
        "SealstreamSseHeaderCompat"
    }

    fn modify_before_deserialization(
        &self,
        ctx: &mut BeforeDeserializationInterceptorContextMut<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let headers = ctx.response_mut().headers_mut();
        for name in SSE_RESPONSE_HEADERS {
            let values: Vec<Vec<u8>> = headers.get_all_bytes(name).map(<[u8]>::to_vec).collect();
            let usable = values
                .iter()
                .find_map(|v| std::str::from_utf8(v).ok().map(str::to_owned));
            let clean = values.len() == 1 && usable.is_some();
            if values.is_empty() || clean {
                continue;
            }
            headers.remove(name);
            if let Some(first) = usable {
                headers.insert(name, first);
            }
        }
        Ok(())
    }
}
