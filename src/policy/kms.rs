//! KMS key references in a policy and how they are compared with the key S3 reports.
//!
//! S3 reports the key of an SSE-KMS object as a key ARN. A policy may name a key by ARN, by bare
//! key id, or by alias (name or ARN). Key ids and ARNs compare by their key id; an alias can only
//! be compared once it is resolved to its key (done at cold start with KMS `DescribeKey`).

/// A KMS key as the policy names it, plus the key ARN it resolves to when known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KmsKey {
    /// Exactly what the policy says; sent to S3 as `x-amz-server-side-encryption-aws-kms-key-id`.
    pub configured: String,
    /// The key ARN an alias resolves to (set at cold start).
    pub resolved_arn: Option<String>,
}

impl serde::Serialize for KmsKey {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.configured)
    }
}

impl KmsKey {
    /// A key reference as written in the policy, not yet resolved.
    pub fn new(configured: impl Into<String>) -> Self {
        Self {
            configured: configured.into(),
            resolved_arn: None,
        }
    }

    /// The key id to send to S3: the key ARN an alias resolved to at cold start, else the
    /// reference as written. Sending the alias text would let S3 follow a re-pointed alias to
    /// another key while this instance still compares against the old one, rewriting objects
    /// (and re-triggering itself through the Copy events) until the next cold start.
    pub fn for_request(&self) -> &str {
        self.resolved_arn.as_deref().unwrap_or(&self.configured)
    }

    /// The key's ARN (`arn:…:kms:REGION:ACCOUNT:key/ID`), when known: as written, or what an
    /// alias resolved to. UpdateObjectEncryption takes nothing else.
    pub fn key_arn(&self) -> Option<&str> {
        [self.resolved_arn.as_deref(), Some(self.configured.as_str())]
            .into_iter()
            .flatten()
            .find(|reference| is_key_arn(reference))
    }

    /// The region an ARN names (`arn:aws:kms:REGION:…`); `None` for bare key ids and alias
    /// names, which mean the caller's region.
    pub fn region(&self) -> Option<&str> {
        self.configured
            .strip_prefix("arn:")
            .and_then(|rest| rest.split(':').nth(2))
            .filter(|region| !region.is_empty())
    }

    /// Whether the policy names an alias (`alias/x` or an alias ARN).
    pub fn is_alias(&self) -> bool {
        self.configured.starts_with("alias/") || self.configured.contains(":alias/")
    }

    /// Whether an alias still needs resolving before objects can be compared with it.
    pub fn needs_resolution(&self) -> bool {
        self.is_alias() && self.resolved_arn.is_none()
    }

    /// Whether the key S3 reports for an object is this key.
    pub fn matches(&self, reported: Option<&str>) -> bool {
        let Some(reported) = reported else {
            return false;
        };
        let reported = key_identity(reported);
        key_identity(&self.configured) == reported
            || self
                .resolved_arn
                .as_deref()
                .is_some_and(|arn| key_identity(arn) == reported)
    }
}

/// Reduces a key reference to what identifies it: the key id for key ARNs, `alias/NAME` for
/// alias ARNs, and the text itself otherwise.
pub fn key_identity(reference: &str) -> &str {
    if reference.starts_with("arn:") {
        if let Some((_, id)) = reference.split_once(":key/") {
            return id;
        }
        if let Some(index) = reference.find(":alias/") {
            return &reference[index + 1..];
        }
    }
    reference
}

/// Whether `reference` is a key ARN (not an alias ARN, not a bare key id).
pub fn is_key_arn(reference: &str) -> bool {
    reference.starts_with("arn:") && reference.contains(":kms:") && reference.contains(":key/")
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "1234abcd-12ab-34cd-56ef-1234567890ab";
    const ARN: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

    #[test]
    fn key_id_and_arn_are_the_same_key() {
        assert!(KmsKey::new(ID).matches(Some(ARN)));
        assert!(KmsKey::new(ARN).matches(Some(ID)));
        assert!(KmsKey::new(ARN).matches(Some(ARN)));
    }

    #[test]
    fn different_keys_and_missing_keys_do_not_match() {
        assert!(!KmsKey::new("other-key").matches(Some(ARN)));
        assert!(!KmsKey::new(ID).matches(None));
    }

    #[test]
    fn alias_matches_only_once_resolved_or_when_reported_as_alias() {
        let mut alias = KmsKey::new("alias/reports");
        assert!(alias.needs_resolution());
        assert!(!alias.matches(Some(ARN)));
        assert!(alias.matches(Some("arn:aws:kms:us-east-1:111122223333:alias/reports")));
        assert_eq!(alias.for_request(), "alias/reports");
        alias.resolved_arn = Some(ARN.to_owned());
        assert!(!alias.needs_resolution());
        assert!(alias.matches(Some(ARN)));
        assert_eq!(
            alias.for_request(),
            ARN,
            "requests name the resolved key, not the alias"
        );
    }
}
