//! The CLI side of the web page (issue 16) against the real local S3 server
//! (scripts/services): `share --web-page`, `upload-link` and `cors`. The page
//! itself is tested in a browser by web/test/browser.py (scripts/web-test).

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use crate::common;

use assert_cmd::Command;
use base64ct::{Base64UrlUnpadded, Encoding};
use common::{Env, USAGE, data, json_one};

const PAGE: &str = "https://page.example/sealstream/index.html";

struct Services {
    s3_endpoint: String,
    bucket: String,
    aws_env: Vec<(String, String)>,
}

fn services(test: &str) -> Option<Services> {
    let Ok(s3_endpoint) = std::env::var("SEALSTREAM_TEST_S3_ENDPOINT") else {
        assert!(
            std::env::var("SEALSTREAM_REQUIRE_SERVICES").as_deref() != Ok("1"),
            "SEALSTREAM_REQUIRE_SERVICES=1 but SEALSTREAM_TEST_S3_ENDPOINT is unset"
        );
        eprintln!("skipping {test}: SEALSTREAM_TEST_S3_ENDPOINT is unset (no local S3 server)");
        return None;
    };
    Some(Services {
        s3_endpoint,
        bucket: std::env::var("SEALSTREAM_TEST_S3_BUCKET")
            .unwrap_or_else(|_| "sealstream-test".into()),
        aws_env: std::env::vars()
            .filter(|(k, _)| k.starts_with("AWS_"))
            .collect(),
    })
}

impl Services {
    fn cmd(&self, env: &Env) -> Command {
        let mut c = env.cmd();
        for (k, v) in &self.aws_env {
            c.env(k, v);
        }
        c.env("SEALSTREAM_ENDPOINT_URL", &self.s3_endpoint);
        c
    }

    fn object(&self, env: &Env, name: &str) -> String {
        let tag = env
            .work()
            .parent()
            .and_then(|p| p.file_name())
            .map(|n| n.to_string_lossy().replace('.', "-"))
            .unwrap();
        format!("s3://{}/web-tests/{tag}/{name}", self.bucket)
    }
}

fn stdout(a: &assert_cmd::assert::Assert) -> Vec<u8> {
    a.get_output().stdout.clone()
}

#[test]
fn share_web_page_link_carries_key_and_url_in_the_fragment_and_get_opens_it() {
    let Some(svc) = services("share_web_page_link") else {
        return;
    };
    let env = Env::new();
    let key = env.keygen("k.key");
    let plain = data(40_000, 3);
    env.write("w.bin", &plain);
    let obj = svc.object(&env, "w.bin");
    svc.cmd(&env)
        .args(["put", "w.bin", &obj, "--key-file"])
        .arg(&key)
        .assert()
        .success();
    let v = json_one(&stdout(
        &svc.cmd(&env)
            .args(["--json", "share", &obj, "--web-page", PAGE, "--key-file"])
            .arg(&key)
            .assert()
            .success(),
    ));
    let link = v["link"].as_str().unwrap().to_owned();
    let (page, fragment) = link.split_once('#').unwrap();
    assert_eq!(page, PAGE, "the link is to the page");
    let (k, u) = fragment.split_once('&').unwrap();
    assert_eq!(k.strip_prefix("k=").unwrap().len(), 43);
    let url =
        String::from_utf8(Base64UrlUnpadded::decode_vec(u.strip_prefix("u=").unwrap()).unwrap())
            .unwrap();
    assert!(
        url.starts_with(&svc.s3_endpoint) && url.contains("X-Amz-Signature="),
        "{url}"
    );
    assert!(
        !page.contains("X-Amz"),
        "nothing of the URL goes outside the fragment"
    );

    // No AWS variables, no key: the web link opens with the CLI too.
    let other = Env::new();
    let a = other.cmd().args(["get", &link, "-"]).assert().success();
    assert!(a.get_output().stdout == plain);

    // A page URL with a fragment of its own is refused.
    svc.cmd(&env)
        .args([
            "share",
            &obj,
            "--web-page",
            "https://page.example/#x",
            "--key-file",
        ])
        .arg(&key)
        .assert()
        .code(USAGE);
}

#[test]
fn upload_link_presigns_parts_for_the_max_size_and_carries_only_public_keys() {
    let Some(svc) = services("upload_link") else {
        return;
    };
    let env = Env::new();
    let id = env.path("id.x25519");
    let out = env
        .cmd()
        .args(["keygen", "--x25519", "-o"])
        .arg(&id)
        .assert()
        .success();
    let public = String::from_utf8(stdout(&out)).unwrap().trim().to_owned();
    let secret = std::fs::read_to_string(&id).unwrap();
    let secret_line = secret
        .lines()
        .find(|l| l.starts_with("sealstream-x25519-secret1:"))
        .unwrap()
        .to_owned();
    let obj = svc.object(&env, "up.bin");
    let v = json_one(&stdout(
        &svc.cmd(&env)
            .args([
                "--json",
                "upload-link",
                &obj,
                "--recipient",
                &public,
                "--web-page",
                PAGE,
                "--max-size",
                "40MiB",
                "--expires",
                "1h",
            ])
            .assert()
            .success(),
    ));
    // 40 MiB in 16 MiB parts: 3 presigned parts.
    assert_eq!(v["parts"], 3);
    let link = v["link"].as_str().unwrap();
    assert!(
        !link.contains(&secret_line[26..]),
        "no secret key in the link"
    );
    let encoded = link.split_once("#up=").unwrap().1;
    let plan: serde_json::Value =
        serde_json::from_slice(&Base64UrlUnpadded::decode_vec(encoded).unwrap()).unwrap();
    assert_eq!(plan["v"], 1);
    assert_eq!(plan["recipients"][0], public.as_str());
    assert_eq!(
        plan["name"],
        obj.strip_prefix("s3://")
            .unwrap()
            .split_once('/')
            .unwrap()
            .1
    );
    assert_eq!(plan["max_size"], 40 << 20);
    let parts = plan["part_signatures"]
        .as_array()
        .map(|s| s.len() + 1)
        .or_else(|| plan["parts"].as_array().map(Vec::len))
        .unwrap();
    assert_eq!(parts, 3);
    for key in ["complete", "abort"] {
        assert!(plan[key].as_str().unwrap().contains("uploadId="), "{key}");
    }

    // The owner's bucket holds one pending upload until the page completes or aborts it;
    // `cors` prints the rule the page needs for its origin.
    let rule = stdout(
        &svc.cmd(&env)
            .args(["cors", &format!("s3://{}", svc.bucket), "--origin", PAGE])
            .assert()
            .success(),
    );
    let rule: serde_json::Value = serde_json::from_slice(&rule).unwrap();
    let r = &rule["CORSRules"][0];
    assert_eq!(r["AllowedOrigins"][0], "https://page.example");
    assert!(
        r["ExposeHeaders"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h == "ETag")
    );
    assert!(
        r["ExposeHeaders"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h == "Content-Range")
    );
    svc.cmd(&env)
        .args(["cors", "s3://", "--origin", PAGE])
        .assert()
        .code(USAGE);

    // Never completed: `cleanup` finds and aborts the link's upload.
    let prefix = obj.rsplit_once('/').unwrap().0;
    let a = svc
        .cmd(&env)
        .args([
            "--json",
            "cleanup",
            &format!("{prefix}/"),
            "--older-than",
            "0",
        ])
        .assert()
        .success();
    let out = String::from_utf8(stdout(&a)).unwrap();
    assert!(out.contains(v["upload_id"].as_str().unwrap()), "{out}");
}
