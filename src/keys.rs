//! Object keys on the wire: decoding the form-encoded keys of S3 event notifications and encoding
//! the `x-amz-copy-source` value that CopyObject needs.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

/// Characters left as they are in one segment of a copy source: RFC 3986 unreserved plus `/`.
const COPY_SOURCE_KEEP: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'/');

/// Characters left as they are in a version id query value.
const QUERY_VALUE_KEEP: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Why an event's key could not be decoded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    /// The percent-decoded bytes are not UTF-8.
    #[error("key {raw:?} does not decode to UTF-8 text")]
    NotUtf8 {
        /// The key as it arrived.
        raw: String,
    },
    /// The key is empty.
    #[error("key is empty")]
    Empty,
}

/// Decodes a key as S3 writes it into event notifications: `+` is a space, then percent-decoding.
///
/// The order matters: a literal `+` arrives as `%2B` and must survive as `+`.
pub fn decode_event_key(raw: &str) -> Result<String, KeyError> {
    if raw.is_empty() {
        return Err(KeyError::Empty);
    }
    let spaced = raw.replace('+', " ");
    percent_decode_str(&spaced)
        .decode_utf8()
        .map(|key| key.into_owned())
        .map_err(|_| KeyError::NotUtf8 {
            raw: raw.to_owned(),
        })
}

/// Builds the CopyObject `x-amz-copy-source` value: `bucket/key` with each key segment
/// percent-encoded, plus `?versionId=` when a specific version is copied.
pub fn copy_source(bucket: &str, key: &str, version_id: Option<&str>) -> String {
    let mut source = format!("{bucket}/{}", utf8_percent_encode(key, COPY_SOURCE_KEEP));
    if let Some(version) = version_id {
        source.push_str("?versionId=");
        source.extend(utf8_percent_encode(version, QUERY_VALUE_KEEP));
    }
    source
}

/// A key as an S3 Batch Operations CSV manifest needs it: URL-encoded (UTF-8 percent-encoding
/// of everything but RFC 3986 unreserved characters and `/`), so a space is `%20`, a `+` is
/// `%2B` and a comma cannot split the row. The function's own form decoding reads it back.
pub fn manifest_key(key: &str) -> String {
    manifest_key_encoded(key).to_string()
}

/// [`manifest_key`] as a value that writes itself, for manifests of millions of rows.
pub fn manifest_key_encoded(key: &str) -> impl std::fmt::Display + '_ {
    utf8_percent_encode(key, COPY_SOURCE_KEEP)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_keys_round_trip_through_event_decoding() {
        for key in ["a b/c+d ü %.txt", "c++/x,y", "plain/key.txt"] {
            let encoded = manifest_key(key);
            assert!(!encoded.contains([' ', '+', ',']), "{encoded}");
            assert_eq!(decode_event_key(&encoded).unwrap(), key);
        }
        assert_eq!(manifest_key("a b+c/ü"), "a%20b%2Bc/%C3%BC");
    }

    #[test]
    fn plus_is_space_and_encoded_plus_is_plus() {
        assert_eq!(decode_event_key("a+b%2Bc").unwrap(), "a b+c");
        assert_eq!(decode_event_key("c%2B%2B/x").unwrap(), "c++/x");
    }

    #[test]
    fn percent_twenty_also_decodes_to_space() {
        assert_eq!(decode_event_key("a%20b").unwrap(), "a b");
    }

    #[test]
    fn non_ascii_is_utf8_decoded() {
        assert_eq!(
            decode_event_key("a+b/c%2Bd+%C3%BC+%25.txt").unwrap(),
            "a b/c+d ü %.txt"
        );
    }

    #[test]
    fn invalid_utf8_and_empty_keys_are_errors() {
        assert!(matches!(
            decode_event_key("%FF%FE"),
            Err(KeyError::NotUtf8 { .. })
        ));
        assert_eq!(decode_event_key(""), Err(KeyError::Empty));
    }

    #[test]
    fn copy_source_encodes_segments_and_keeps_slashes() {
        assert_eq!(
            copy_source("src", "a b/c+d ü %.txt", None),
            "src/a%20b/c%2Bd%20%C3%BC%20%25.txt"
        );
        assert_eq!(copy_source("src", "c++/x", None), "src/c%2B%2B/x");
    }

    #[test]
    fn copy_source_appends_encoded_version() {
        assert_eq!(
            copy_source("b", "k", Some("3/L4kqtJl+cZ")),
            "b/k?versionId=3%2FL4kqtJl%2BcZ"
        );
    }
}
