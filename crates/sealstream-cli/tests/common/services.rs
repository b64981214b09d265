//! The local S3 server of scripts/services for CLI tests outside s3.rs:
//! `None` (with a skip line) when SEALSTREAM_TEST_S3_ENDPOINT is unset,
//! unless SEALSTREAM_REQUIRE_SERVICES=1, which makes the test fail.

use assert_cmd::Command;

use super::Env;

/// The S3 server and the AWS_* variables to pass to the command.
pub(crate) struct S3 {
    pub(crate) endpoint: String,
    pub(crate) bucket: String,
    aws_env: Vec<(String, String)>,
}

/// The AWS SDK configuration for a local server at `endpoint`: credentials
/// from the environment, `us-east-1`, and the HTTP client the CLI's
/// `aws.rs` builds (hyper 1, rustls on ring).
pub(crate) async fn sdk_config(endpoint: &str) -> aws_config::SdkConfig {
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
            aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https();
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(http)
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .load()
        .await
}

pub(crate) fn s3(test: &str) -> Option<S3> {
    let Ok(endpoint) = std::env::var("SEALSTREAM_TEST_S3_ENDPOINT") else {
        assert!(
            std::env::var("SEALSTREAM_REQUIRE_SERVICES").as_deref() != Ok("1"),
            "SEALSTREAM_REQUIRE_SERVICES=1 but SEALSTREAM_TEST_S3_ENDPOINT is unset: \
             run `scripts/services start` and `source .test-services/env`"
        );
        eprintln!("skipping {test}: SEALSTREAM_TEST_S3_ENDPOINT is unset (no local S3 server)");
        return None;
    };
    let bucket =
        std::env::var("SEALSTREAM_TEST_S3_BUCKET").unwrap_or_else(|_| "sealstream-test".into());
    let aws_env = std::env::vars()
        .filter(|(k, _)| k.starts_with("AWS_"))
        .collect();
    Some(S3 {
        endpoint,
        bucket,
        aws_env,
    })
}

impl S3 {
    /// A fresh store for one test: `s3://bucket/cli-tests/NAME-RANDOM`.
    pub(crate) fn store(&self, env: &Env, name: &str) -> String {
        let tag = env
            .work()
            .parent()
            .and_then(|p| p.file_name())
            .map(|n| n.to_string_lossy().replace('.', "-"))
            .unwrap_or_default();
        format!("s3://{}/cli-tests/{name}-{tag}", self.bucket)
    }

    /// `sealstream` with the AWS credentials and the S3 endpoint.
    pub(crate) fn cmd(&self, env: &Env) -> Command {
        let mut c = env.cmd();
        for (k, v) in &self.aws_env {
            c.env(k, v);
        }
        c.env("SEALSTREAM_ENDPOINT_URL", &self.endpoint);
        c
    }
}

impl S3 {
    /// An SDK client for the server, with a runtime to drive it.
    pub(crate) fn sdk(&self) -> Sdk {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let endpoint = self.endpoint.clone();
        let client = rt.block_on(async move {
            let sdk = sdk_config(&endpoint).await;
            let conf = aws_sdk_s3::config::Builder::from(&sdk)
                .force_path_style(true)
                .build();
            aws_sdk_s3::Client::from_conf(conf)
        });
        Sdk {
            rt,
            client,
            bucket: self.bucket.clone(),
        }
    }
}

/// Raw S3 access for planting bytes (what an attacker with write access to
/// the bucket can do).
pub(crate) struct Sdk {
    rt: tokio::runtime::Runtime,
    client: aws_sdk_s3::Client,
    bucket: String,
}

impl Sdk {
    /// The object's bytes, `None` if it does not exist.
    pub(crate) fn get(&self, key: &str) -> Option<Vec<u8>> {
        self.rt.block_on(async {
            let o = self
                .client
                .get_object()
                .bucket(&self.bucket)
                .key(key)
                .send()
                .await
                .ok()?;
            Some(o.body.collect().await.unwrap().into_bytes().to_vec())
        })
    }

    /// Writes the object.
    pub(crate) fn put(&self, key: &str, bytes: &[u8]) {
        self.rt.block_on(async {
            self.client
                .put_object()
                .bucket(&self.bucket)
                .key(key)
                .body(bytes.to_vec().into())
                .send()
                .await
                .unwrap();
        });
    }
}

impl S3 {
    /// [`S3::cmd`] as a plain `std` command, for tests that spawn and signal.
    pub(crate) fn std_cmd(&self, env: &Env) -> std::process::Command {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_sealstream"));
        c.env_clear()
            .env("HOME", env.home())
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .current_dir(env.work());
        for (k, v) in &self.aws_env {
            c.env(k, v);
        }
        c.env("SEALSTREAM_ENDPOINT_URL", &self.endpoint);
        // As `Env::cmd`: stdin is not a terminal, so the default key is
        // created only when asked.
        c.arg("--create-key");
        c
    }
}

impl Sdk {
    /// `(key, ETag)` of every object under `prefix`, sorted by key.
    #[allow(dead_code)]
    pub(crate) fn etags(&self, prefix: &str) -> Vec<(String, String)> {
        self.rt.block_on(async {
            let resp = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(prefix)
                .send()
                .await
                .unwrap();
            let mut v: Vec<(String, String)> = resp
                .contents()
                .iter()
                .map(|o| {
                    (
                        o.key().unwrap_or_default().to_owned(),
                        o.e_tag().unwrap_or_default().to_owned(),
                    )
                })
                .collect();
            v.sort();
            v
        })
    }
}

impl Sdk {
    /// Writes the object; whether the server accepted it (some refuse
    /// keys with `..` segments).
    #[allow(dead_code)]
    pub(crate) fn try_put(&self, key: &str, bytes: &[u8]) -> bool {
        self.rt.block_on(async {
            self.client
                .put_object()
                .bucket(&self.bucket)
                .key(key)
                .body(bytes.to_vec().into())
                .send()
                .await
                .is_ok()
        })
    }
}
