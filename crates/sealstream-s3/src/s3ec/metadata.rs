//! S3EC content metadata: object metadata and instruction files
//! (aws-encryption-sdk-specification, s3-encryption/data-format/
//! content-metadata.md "Determining S3EC Object Status" and
//! "Content Metadata Values", metadata-strategy.md "Instruction File").

use std::collections::{BTreeMap, HashMap};

use base64ct::{Base64, Encoding};

use super::gcm::IV_LEN;

/// Message id and commitment length of suite 115 (algorithm-suites.md).
pub(crate) const COMMIT_LEN: usize = 28;
/// The largest encrypted data key accepted (RSA-4096 is 512 bytes, a KMS
/// ciphertext blob under 300).
pub(crate) const MAX_WRAPPED_KEY_LEN: usize = 4096;
/// The largest instruction file read.
pub const MAX_INSTRUCTION_FILE_LEN: usize = 64 * 1024;
/// At most this many pairs in a material description or KMS context.
pub(crate) const MAX_CONTEXT_PAIRS: usize = 64;

/// The reserved KMS context key naming the content algorithm.
pub(crate) const CEK_ALG_CONTEXT_KEY: &str = "aws:x-amz-cek-alg";
/// V3's content algorithm id (`ALG_AES_256_GCM_HKDF_SHA512_COMMIT_KEY`, 0x0073).
pub(crate) const SUITE_115: &str = "115";
/// The V2 content algorithm this reader opens.
pub(crate) const AES_GCM: &str = "AES/GCM/NoPadding";

const V1_KEY: &str = "x-amz-key";
const V2_KEY: &str = "x-amz-key-v2";
const V3_KEY: &str = "x-amz-3";
const V3_EXCLUSIVE_IN_OBJECT: [&str; 3] = ["x-amz-c", "x-amz-d", "x-amz-i"];

/// The S3EC message format version (content-metadata.md "Format Versions").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// `x-amz-key-v2`: AES-GCM content under the data key itself.
    V2,
    /// `x-amz-c`/`x-amz-3`: the key-committing suite 115.
    V3,
}

impl Format {
    /// `V2` or `V3`.
    pub fn name(self) -> &'static str {
        match self {
            Format::V2 => "V2",
            Format::V3 => "V3",
        }
    }
}

/// How the data key is wrapped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wrapping {
    /// `kms+context` (V3 `12`): KMS Decrypt with the stored context.
    KmsContext,
    /// `AES/GCM` (V3 `02`): a raw AES key.
    AesGcm,
    /// `RSA-OAEP-SHA1` (V3 `22`): an RSA key.
    RsaOaepSha1,
}

impl Wrapping {
    /// The V2 name of the wrapping algorithm.
    pub fn name(self) -> &'static str {
        match self {
            Wrapping::KmsContext => "kms+context",
            Wrapping::AesGcm => "AES/GCM",
            Wrapping::RsaOaepSha1 => "RSA-OAEP-SHA1",
        }
    }
}

/// Where the key metadata was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Storage {
    /// In the object's own `x-amz-meta-` headers.
    ObjectMetadata,
    /// In the `KEY.instruction` object.
    InstructionFile,
}

/// What the content is sealed with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Content {
    /// V2: AES-256-GCM under the data key, this IV, no AAD.
    Gcm { iv: [u8; IV_LEN] },
    /// V3: keys derived from the message id; the commitment to check.
    Committing {
        message_id: [u8; COMMIT_LEN],
        commitment: [u8; COMMIT_LEN],
    },
}

/// Everything needed to open an S3EC object, parsed and checked. Holds no
/// secret (the data key is wrapped).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope {
    pub(crate) format: Format,
    pub(crate) content: Content,
    pub(crate) wrapping: Wrapping,
    pub(crate) wrapped_key: Vec<u8>,
    /// The KMS encryption context (kms+context) or the material
    /// description (raw keys), as stored.
    pub(crate) context: BTreeMap<String, String>,
    pub(crate) storage: Storage,
}

impl Envelope {
    /// The message format.
    pub fn format(&self) -> Format {
        self.format
    }
    /// The data-key wrapping.
    pub fn wrapping(&self) -> Wrapping {
        self.wrapping
    }
    /// Where the metadata came from.
    pub fn storage(&self) -> Storage {
        self.storage
    }
    /// The content algorithm, as the S3EC names it.
    pub fn content_algorithm(&self) -> &'static str {
        match self.content {
            Content::Gcm { .. } => "AES/GCM/NoPadding (ALG_AES_256_GCM_IV12_TAG16_NO_KDF)",
            Content::Committing { .. } => "115 (ALG_AES_256_GCM_HKDF_SHA512_COMMIT_KEY)",
        }
    }
    /// The stored KMS encryption context or material description, with
    /// the reserved `aws:x-amz-cek-alg` pair.
    pub fn context(&self) -> &BTreeMap<String, String> {
        &self.context
    }
    /// The context as the caller must give it: the stored one without
    /// its reserved pairs (s3-kms-keyring.md "Kms+Context").
    pub fn user_context(&self) -> BTreeMap<String, String> {
        let mut c = self.context.clone();
        c.remove(CEK_ALG_CONTEXT_KEY);
        c.remove("kms_cmk_id");
        c
    }
}

/// Why metadata was refused. The messages name the field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MetadataError {
    /// Not an S3EC object at all (no S3EC key in metadata).
    NotS3ec,
    /// The object needs its instruction file, which was not given.
    NeedsInstructionFile,
    /// A legacy or unsupported format, named.
    Refused(String),
    /// Malformed metadata.
    Malformed(String),
}

fn malformed(s: impl Into<String>) -> MetadataError {
    MetadataError::Malformed(s.into())
}

/// Whether the metadata map has any S3EC key at all.
pub fn looks_like_s3ec(meta: &HashMap<String, String>) -> bool {
    meta.keys().any(|k| is_s3ec_key(k))
}

fn is_s3ec_key(k: &str) -> bool {
    matches!(
        k,
        "x-amz-key"
            | "x-amz-key-v2"
            | "x-amz-wrap-alg"
            | "x-amz-matdesc"
            | "x-amz-iv"
            | "x-amz-cek-alg"
            | "x-amz-tag-len"
            | "x-amz-unencrypted-content-length"
            | "x-amz-crypto-instr-file"
            | "x-amz-c"
            | "x-amz-3"
            | "x-amz-m"
            | "x-amz-t"
            | "x-amz-w"
            | "x-amz-d"
            | "x-amz-i"
    )
}

/// Whether an object with this metadata keeps its key in an instruction
/// file (content-metadata.md: "If the object matches none of the V1/V2/V3
/// formats, the S3EC MUST attempt to get the instruction file").
pub fn needs_instruction_file(meta: &HashMap<String, String>) -> bool {
    ![V1_KEY, V2_KEY, V3_KEY]
        .iter()
        .any(|k| meta.contains_key(*k))
}

/// Parses an instruction file: one JSON object of string values.
pub fn parse_instruction_file(bytes: &[u8]) -> Result<HashMap<String, String>, MetadataError> {
    if bytes.len() > MAX_INSTRUCTION_FILE_LEN {
        return Err(malformed(format!(
            "the instruction file is {} bytes, more than the {MAX_INSTRUCTION_FILE_LEN} accepted",
            bytes.len()
        )));
    }
    let v: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| malformed(format!("the instruction file is not JSON: {e}")))?;
    let obj = v
        .as_object()
        .ok_or_else(|| malformed("the instruction file is not a JSON object"))?;
    let mut out = HashMap::new();
    for (k, v) in obj {
        let v = v
            .as_str()
            .ok_or_else(|| malformed(format!("instruction file field {k:?} is not a string")))?;
        out.insert(k.clone(), v.to_owned());
    }
    Ok(out)
}

/// Parses the S3EC metadata of an object: its own metadata `meta`
/// (without the `x-amz-meta-` prefix) and, when
/// [`needs_instruction_file`] says so, its instruction file's fields.
pub fn parse(
    meta: &HashMap<String, String>,
    instruction: Option<&HashMap<String, String>>,
) -> Result<Envelope, MetadataError> {
    // Sorted, so that the first field reported is always the same one.
    let s3ec: BTreeMap<&str, &str> = meta
        .iter()
        .filter(|(k, _)| is_s3ec_key(k))
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    if s3ec.is_empty() && instruction.is_none() {
        return Err(MetadataError::NotS3ec);
    }
    let (fields, storage) = if needs_instruction_file(meta) {
        let Some(inst) = instruction else {
            return Err(MetadataError::NeedsInstructionFile);
        };
        let mut fields: HashMap<&str, &str> = HashMap::new();
        let inst: BTreeMap<&String, &String> = inst.iter().collect();
        for (k, v) in inst {
            if !is_s3ec_key(k) {
                continue;
            }
            if V3_EXCLUSIVE_IN_OBJECT.contains(&k.as_str()) {
                return Err(malformed(format!(
                    "the instruction file holds {k}, which the V3 format keeps in the object's \
                     metadata only (metadata-strategy.md \"V3 Instruction Files\")"
                )));
            }
            fields.insert(k.as_str(), v.as_str());
        }
        let v3 = V3_EXCLUSIVE_IN_OBJECT.iter().any(|k| s3ec.contains_key(k));
        for (k, v) in &s3ec {
            if !v3 || !V3_EXCLUSIVE_IN_OBJECT.contains(k) {
                return Err(malformed(format!(
                    "{k} is in the object's metadata although its instruction file is used \
                     (an illegal combination)"
                )));
            }
            fields.insert(k, v);
        }
        (fields, Storage::InstructionFile)
    } else {
        (s3ec.into_iter().collect(), Storage::ObjectMetadata)
    };
    parse_fields(&fields, storage)
}

fn get<'a>(f: &HashMap<&str, &'a str>, k: &str) -> Result<&'a str, MetadataError> {
    f.get(k)
        .copied()
        .ok_or_else(|| malformed(format!("{k} is missing")))
}

fn b64(field: &str, v: &str, max: usize) -> Result<Vec<u8>, MetadataError> {
    if v.len() > max.div_ceil(3) * 4 + 4 {
        return Err(malformed(format!("{field} is longer than {max} bytes")));
    }
    Base64::decode_vec(v.trim()).map_err(|_| malformed(format!("{field} is not valid base64")))
}

fn fixed<const N: usize>(field: &str, v: &str) -> Result<[u8; N], MetadataError> {
    let bytes = b64(field, v, N)?;
    <[u8; N]>::try_from(bytes.as_slice())
        .map_err(|_| malformed(format!("{field} is {} bytes, not {N}", bytes.len())))
}

fn parse_json_map(field: &str, v: &str) -> Result<BTreeMap<String, String>, MetadataError> {
    if v.starts_with("=?") {
        return Err(MetadataError::Refused(format!(
            "{field} is RFC 2047-encoded by S3 (the context holds non-ASCII characters); this \
             reader supports US-ASCII metadata only"
        )));
    }
    let val: serde_json::Value =
        serde_json::from_str(v).map_err(|e| malformed(format!("{field} is not JSON: {e}")))?;
    let obj = val
        .as_object()
        .ok_or_else(|| malformed(format!("{field} is not a JSON object")))?;
    if obj.len() > MAX_CONTEXT_PAIRS {
        return Err(malformed(format!(
            "{field} has {} pairs, more than {MAX_CONTEXT_PAIRS}",
            obj.len()
        )));
    }
    obj.iter()
        .map(|(k, v)| {
            v.as_str()
                .map(|s| (k.clone(), s.to_owned()))
                .ok_or_else(|| malformed(format!("{field}: the value of {k:?} is not a string")))
        })
        .collect()
}

fn parse_fields(f: &HashMap<&str, &str>, storage: Storage) -> Result<Envelope, MetadataError> {
    let has = |k: &str| f.contains_key(k);
    let versions = [has(V1_KEY), has(V2_KEY), has(V3_KEY)]
        .iter()
        .filter(|b| **b)
        .count();
    if versions > 1 {
        return Err(malformed(
            "the metadata holds the data keys of more than one format version (x-amz-key, \
             x-amz-key-v2, x-amz-3)",
        ));
    }
    if has(V1_KEY) {
        return Err(MetadataError::Refused(
            "this is an S3 Encryption Client V1 object (x-amz-key: AES-CBC content without \
             authentication, a legacy format); sealstream does not read it: decrypt it with \
             the S3 Encryption Client with legacy modes enabled"
                .into(),
        ));
    }
    if has(V2_KEY) {
        for k in [
            "x-amz-c", "x-amz-d", "x-amz-i", "x-amz-w", "x-amz-t", "x-amz-m",
        ] {
            if has(k) {
                return Err(malformed(format!(
                    "a V2 object must not have the V3 field {k}"
                )));
            }
        }
        let cek = get(f, "x-amz-cek-alg")?;
        if cek != AES_GCM {
            return Err(MetadataError::Refused(format!(
                "x-amz-cek-alg is {cek:?}: only AES/GCM/NoPadding content is read (AES/CBC and \
                 AES/CTR are legacy formats without authentication)"
            )));
        }
        let tag_len = get(f, "x-amz-tag-len")?;
        if tag_len != "128" {
            return Err(malformed(format!("x-amz-tag-len is {tag_len:?}, not 128")));
        }
        let iv = fixed::<IV_LEN>("x-amz-iv", get(f, "x-amz-iv")?)?;
        let wrapping = match get(f, "x-amz-wrap-alg")? {
            "kms+context" => Wrapping::KmsContext,
            "AES/GCM" => Wrapping::AesGcm,
            "RSA-OAEP-SHA1" => Wrapping::RsaOaepSha1,
            w @ ("kms" | "AESWrap" | "RSA/ECB/OAEPWithSHA-256AndMGF1Padding") => {
                return Err(MetadataError::Refused(format!(
                    "x-amz-wrap-alg is {w:?}, a legacy key wrapping; sealstream does not read it"
                )));
            }
            w => return Err(malformed(format!("x-amz-wrap-alg {w:?} is unknown"))),
        };
        let context = parse_json_map(
            "x-amz-matdesc",
            f.get("x-amz-matdesc").copied().unwrap_or("{}"),
        )?;
        if wrapping == Wrapping::KmsContext
            && context.get(CEK_ALG_CONTEXT_KEY).map(String::as_str) != Some(AES_GCM)
        {
            return Err(malformed(format!(
                "the KMS context in x-amz-matdesc must hold {CEK_ALG_CONTEXT_KEY}={AES_GCM}"
            )));
        }
        let wrapped_key = b64("x-amz-key-v2", get(f, V2_KEY)?, MAX_WRAPPED_KEY_LEN)?;
        return Ok(Envelope {
            format: Format::V2,
            content: Content::Gcm { iv },
            wrapping,
            wrapped_key,
            context,
            storage,
        });
    }
    if has(V3_KEY) || has("x-amz-c") {
        for k in [
            "x-amz-key-v2",
            "x-amz-cek-alg",
            "x-amz-iv",
            "x-amz-wrap-alg",
            "x-amz-matdesc",
            "x-amz-tag-len",
        ] {
            if has(k) {
                return Err(malformed(format!(
                    "a V3 object must not have the V2 field {k}"
                )));
            }
        }
        let c = get(f, "x-amz-c")?;
        if c != SUITE_115 {
            return Err(MetadataError::Refused(format!(
                "x-amz-c is {c:?}: only suite 115 (ALG_AES_256_GCM_HKDF_SHA512_COMMIT_KEY) is read"
            )));
        }
        let (wrapping, ctx_field) = match get(f, "x-amz-w")? {
            "12" => (Wrapping::KmsContext, "x-amz-t"),
            "02" => (Wrapping::AesGcm, "x-amz-m"),
            "22" => (Wrapping::RsaOaepSha1, "x-amz-m"),
            w => return Err(malformed(format!("x-amz-w {w:?} is unknown"))),
        };
        let other = if ctx_field == "x-amz-t" {
            "x-amz-m"
        } else {
            "x-amz-t"
        };
        if has(other) {
            return Err(malformed(format!(
                "{other} does not go with x-amz-w {} ({})",
                get(f, "x-amz-w")?,
                wrapping.name()
            )));
        }
        let context = parse_json_map(ctx_field, f.get(ctx_field).copied().unwrap_or("{}"))?;
        if wrapping == Wrapping::KmsContext
            && context.get(CEK_ALG_CONTEXT_KEY).map(String::as_str) != Some(SUITE_115)
        {
            return Err(malformed(format!(
                "the KMS context in x-amz-t must hold {CEK_ALG_CONTEXT_KEY}={SUITE_115}"
            )));
        }
        let message_id = fixed::<COMMIT_LEN>("x-amz-i", get(f, "x-amz-i")?)?;
        let commitment = fixed::<COMMIT_LEN>("x-amz-d", get(f, "x-amz-d")?)?;
        let wrapped_key = b64("x-amz-3", get(f, V3_KEY)?, MAX_WRAPPED_KEY_LEN)?;
        return Ok(Envelope {
            format: Format::V3,
            content: Content::Committing {
                message_id,
                commitment,
            },
            wrapping,
            wrapped_key,
            context,
            storage,
        });
    }
    Err(malformed(
        "S3 Encryption Client metadata without an encrypted data key (x-amz-key-v2 or x-amz-3)",
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn m(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    const V3: &[(&str, &str)] = &[
        ("x-amz-c", "115"),
        ("x-amz-3", "AAEC"),
        ("x-amz-w", "12"),
        ("x-amz-t", "{\"aws:x-amz-cek-alg\": \"115\", \"a\": \"b\"}"),
        ("x-amz-d", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=="),
        ("x-amz-i", "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQ=="),
    ];

    #[test]
    fn v3_in_metadata() {
        let e = parse(&m(V3), None).unwrap();
        assert_eq!(e.format, Format::V3);
        assert_eq!(e.wrapping, Wrapping::KmsContext);
        assert_eq!(e.user_context().get("a").map(String::as_str), Some("b"));
    }

    #[test]
    fn refusals_name_the_format() {
        let v1 = m(&[
            ("x-amz-key", "AAAA"),
            ("x-amz-iv", "AAAA"),
            ("x-amz-matdesc", "{}"),
        ]);
        assert!(matches!(parse(&v1, None), Err(MetadataError::Refused(s)) if s.contains("V1")));
        let cbc = m(&[
            ("x-amz-key-v2", "AAAA"),
            ("x-amz-iv", "AAAAAAAAAAAAAAAA"),
            ("x-amz-cek-alg", "AES/CBC/PKCS5Padding"),
            ("x-amz-wrap-alg", "kms+context"),
        ]);
        assert!(
            matches!(parse(&cbc, None), Err(MetadataError::Refused(s)) if s.contains("AES/CBC"))
        );
        let mut both = m(V3);
        both.insert("x-amz-key-v2".into(), "AAAA".into());
        assert!(matches!(
            parse(&both, None),
            Err(MetadataError::Malformed(_))
        ));
    }

    #[test]
    fn instruction_file_may_not_hold_content_fields() {
        let object = m(&V3[..1]);
        let mut inst = m(V3);
        inst.remove("x-amz-c");
        assert!(parse(&object, None) == Err(MetadataError::NeedsInstructionFile));
        let mut with_d = m(&V3[..1]);
        with_d.insert("x-amz-d".into(), V3[4].1.into());
        with_d.insert("x-amz-i".into(), V3[5].1.into());
        inst.remove("x-amz-d");
        inst.remove("x-amz-i");
        let e = parse(&with_d, Some(&inst)).unwrap();
        assert_eq!(e.storage, Storage::InstructionFile);
        inst.insert("x-amz-d".into(), V3[4].1.into());
        assert!(matches!(
            parse(&with_d, Some(&inst)),
            Err(MetadataError::Malformed(_))
        ));
    }
}
