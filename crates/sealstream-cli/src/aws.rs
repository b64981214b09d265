//! Loading the AWS SDK configuration with a small, explicit HTTP stack: the
//! one place the product loads it (profiles, the Region chain, the endpoint
//! override). The libraries take the resulting `SdkConfig` (KMS:
//! `KmsProvider::client`; S3: `aws_sdk_s3::config::Builder::from`).
//!
//! The SDK crates are built with default features off (no aws-lc, no legacy
//! hyper 0.14), so the HTTPS client is passed in explicitly: hyper 1 with
//! rustls on ring.

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_smithy_http_client::tls;

/// Where and how to reach AWS (or an AWS-compatible server).
#[derive(Clone, Debug, Default)]
pub(crate) struct AwsOptions {
    /// Region; the standard chain (environment, profile) is used if unset,
    /// then `us-east-1`.
    pub(crate) region: Option<String>,
    /// Endpoint override, for S3- or KMS-compatible servers
    /// (`http://127.0.0.1:9000`).
    pub(crate) endpoint_url: Option<String>,
    /// Named profile from `~/.aws/config`.
    pub(crate) profile: Option<String>,
}

/// The HTTPS client every sealstream SDK client uses.
pub(crate) fn http_client() -> aws_sdk_s3::config::SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https()
}

/// Loads credentials and Region from the standard AWS chain (environment,
/// profiles, web identity, container and instance roles), with the options
/// applied on top.
pub(crate) async fn load_sdk_config(opts: &AwsOptions) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).http_client(http_client());
    if let Some(profile) = &opts.profile {
        loader = loader.profile_name(profile);
    }
    if let Some(endpoint) = &opts.endpoint_url {
        loader = loader.endpoint_url(endpoint);
    }
    if let Some(region) = &opts.region {
        loader = loader.region(Region::new(region.clone()));
    }
    let config = loader.load().await;
    if config.region().is_none() {
        return config
            .into_builder()
            .region(Region::from_static("us-east-1"))
            .build();
    }
    config
}
