//! Object keys on the wire: decoding the form-encoded keys of S3 event notifications and encoding
//! the `x-amz-copy-source` value that CopyObject needs.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

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
    // One pass into one buffer of the right size: inventories decode millions of keys, and the
    // two-step form (replace, then `percent_decode`) allocated and grew twice per key. An
    // escape that is not `%` and two hex digits stays as it is, as `percent_decode` leaves it.
    let bytes = raw.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let byte = match bytes[i] {
            b'+' => b' ',
            b'%' => match (
                bytes.get(i + 1).and_then(|&b| hex_value(b)),
                bytes.get(i + 2).and_then(|&b| hex_value(b)),
            ) {
                (Some(high), Some(low)) => {
                    i += 2;
                    high << 4 | low
                }
                _ => b'%',
            },
            other => other,
        };
        decoded.push(byte);
        i += 1;
    }
    String::from_utf8(decoded).map_err(|_| KeyError::NotUtf8 {
        raw: raw.to_owned(),
    })
}

/// The value of one hex digit.
fn hex_value(digit: u8) -> Option<u8> {
    (digit as char).to_digit(16).map(|v| v as u8)
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
    utf8_percent_encode(key, COPY_SOURCE_KEEP).to_string()
}

/// Writes [`manifest_key`] to `out` without building it first, for manifests of millions of rows.
pub fn write_manifest_key(
    out: &mut (impl std::io::Write + ?Sized),
    key: &str,
) -> std::io::Result<()> {
    utf8_percent_encode(key, COPY_SOURCE_KEEP).try_for_each(|chunk| out.write_all(chunk.as_bytes()))
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
    fn malformed_escapes_stay_as_they_are() {
        for raw in ["%", "a%2", "%zz+b", "100%", "%%41"] {
            assert_eq!(
                decode_event_key(raw).unwrap(),
                reference_decode(raw).unwrap()
            );
        }
        assert_eq!(decode_event_key("%%41").unwrap(), "%A");
    }

    /// The two-step decoding the one-pass decoder replaced: `+` to space, then `percent_decode`.
    fn reference_decode(raw: &str) -> Option<String> {
        percent_encoding::percent_decode_str(&raw.replace('+', " "))
            .decode_utf8()
            .ok()
            .map(|key| key.into_owned())
    }

    proptest::proptest! {
        /// The one-pass decoder agrees with the reference on any text, including stray `%`,
        /// partial escapes and escapes of bytes that are not UTF-8.
        #[test]
        fn one_pass_decoding_is_the_reference_decoding(raw in "[a-zA-Z0-9+%/ ü.,]{1,24}|(%[0-9a-fA-FxX]{0,2}|[+a/]){1,12}") {
            proptest::prop_assert_eq!(decode_event_key(&raw).ok(), reference_decode(&raw));
        }

        /// Every key survives the manifest's encoding and the function's decoding.
        #[test]
        fn any_key_round_trips_through_a_manifest(key in "\\PC{1,32}") {
            let mut written = Vec::new();
            write_manifest_key(&mut written, &key).unwrap();
            proptest::prop_assert_eq!(&String::from_utf8(written).unwrap(), &manifest_key(&key));
            proptest::prop_assert_eq!(decode_event_key(&manifest_key(&key)).unwrap(), key);
        }
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
