//! Where a rule's backups go, and the proof at cold start that no two source objects can share
//! one backup key.
//!
//! A backup's key is its prefix, with `{bucket}` replaced by the source bucket's name, followed
//! by the source key. Backups of different sources must never share a key (one would overwrite
//! the other, or one would never be made and be reported as done), so a rule that can match
//! several buckets needs `{bucket}` in its prefix (its default prefix is `{bucket}/`), and
//! [`check_distinct_backup_keys`] refuses any policy in which two sources of the same or of
//! different rules can map to one key. The check is conservative: a policy it accepts never
//! maps two sources to one key; it may refuse a policy whose matchers happen never to overlap
//! in practice, and its error says how to fix that.

use std::borrow::Cow;
use std::fmt;

use super::Rule;

/// The placeholder for the source bucket's name in a backup prefix.
pub const BUCKET_PLACEHOLDER: &str = "{bucket}";

/// A backup prefix as the policy gives it: literal text, or text with `{bucket}/` in it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BackupPrefix {
    /// The prefix as written (`backups/{bucket}/`).
    template: String,
}

impl BackupPrefix {
    /// A prefix from its template, checked: `{bucket}` at most once and followed by `/` (so
    /// that no bucket name can be read as the start of another's), no other `{…}` placeholder.
    pub fn parse(template: &str) -> Result<Self, String> {
        let count = template.matches(BUCKET_PLACEHOLDER).count();
        if count > 1 {
            return Err(format!(
                "{template:?} names {BUCKET_PLACEHOLDER} {count} times; use it once, e.g. \"{{bucket}}/\""
            ));
        }
        if count == 1 && !template.contains("{bucket}/") {
            return Err(format!(
                "{template:?}: {BUCKET_PLACEHOLDER} must be followed by '/', so that one bucket's backups cannot be read as another's (e.g. \"backups/{{bucket}}/\")"
            ));
        }
        let without = template.replace(BUCKET_PLACEHOLDER, "");
        if let Some(start) = without.find('{')
            && without[start..].contains('}')
        {
            return Err(format!(
                "{template:?} has a placeholder other than {BUCKET_PLACEHOLDER}; only the source bucket's name can be put into a backup prefix"
            ));
        }
        Ok(Self {
            template: template.to_owned(),
        })
    }

    /// The default for a rule: the bucket's name when the rule can match several buckets (so
    /// their backups never share keys), nothing when it names exactly one.
    pub fn default_for(buckets: &[String]) -> Self {
        Self {
            template: if buckets.len() == 1 {
                String::new()
            } else {
                format!("{BUCKET_PLACEHOLDER}/")
            },
        }
    }

    /// Whether the prefix names the source bucket.
    pub fn names_bucket(&self) -> bool {
        self.template.contains(BUCKET_PLACEHOLDER)
    }

    /// The prefix for objects of `source_bucket`.
    pub fn expand(&self, source_bucket: &str) -> Cow<'_, str> {
        if self.names_bucket() {
            Cow::Owned(self.template.replace(BUCKET_PLACEHOLDER, source_bucket))
        } else {
            Cow::Borrowed(&self.template)
        }
    }

    /// The backup key of `source_bucket/source_key`.
    pub fn key_for(&self, source_bucket: &str, source_key: &str) -> String {
        format!("{}{source_key}", self.expand(source_bucket))
    }

    /// Whether `key` (in the backup bucket) lies where this prefix puts backups, for some
    /// source bucket.
    pub fn holds(&self, key: &str) -> bool {
        let (head, tail) = self.split();
        let Some(tail) = tail else {
            return key.starts_with(head);
        };
        let Some(rest) = key.strip_prefix(head) else {
            return false;
        };
        // `tail` starts with '/': the source bucket's name is the segment before it.
        match rest.find('/') {
            Some(end) if end > 0 => rest[end..].starts_with(tail),
            _ => false,
        }
    }

    /// Whether a backup key under this prefix can begin with `prefix`, or `prefix` with the
    /// place this prefix puts a bucket's backups: whether objects under `prefix` could be
    /// taken for backups, or be overwritten by one.
    pub fn may_overlap(&self, prefix: &str) -> bool {
        let (head, tail) = self.split();
        let Some(tail) = tail else {
            return related(head, prefix);
        };
        if head.starts_with(prefix) {
            return true;
        }
        let Some(rest) = prefix.strip_prefix(head) else {
            return false;
        };
        match rest.find('/') {
            Some(end) => could_be_bucket(&rest[..end]) && related(&rest[end..], tail),
            None => rest.len() < 63 && rest.chars().all(is_bucket_char),
        }
    }

    /// The text before `{bucket}` (all of it when there is none), and the text from the `/`
    /// after `{bucket}` on.
    fn split(&self) -> (&str, Option<&str>) {
        match self.template.find(BUCKET_PLACEHOLDER) {
            Some(at) => (
                &self.template[..at],
                Some(&self.template[at + BUCKET_PLACEHOLDER.len()..]),
            ),
            None => (&self.template, None),
        }
    }

    /// The literal text every backup key under this prefix starts with.
    pub fn literal_head(&self) -> &str {
        self.split().0
    }

    /// The prefix as written.
    pub fn as_str(&self) -> &str {
        &self.template
    }
}

impl fmt::Display for BackupPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.template)
    }
}

/// Why two sources could share a backup key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedBackupKey {
    /// Index of the rule the error is reported on.
    pub rule: usize,
    /// What collides, and how to fix it.
    pub problem: String,
}

/// The backup keys one rule can produce, as far as the policy tells: for a named bucket, the
/// exact prefix; for any bucket, the prefix around the bucket's name.
#[derive(Debug)]
enum KeySpace<'a> {
    /// Objects of `bucket` go under `prefix`, and (with the rule's key prefix) under `reach`.
    Named {
        rule: usize,
        bucket: &'a str,
        prefix: String,
        reach: String,
    },
    /// Objects of any bucket `b` go under `head + b + tail`, and under `head + b + reach_tail`.
    AnyBucket {
        rule: usize,
        head: &'a str,
        tail: &'a str,
        reach_tail: String,
    },
}

impl KeySpace<'_> {
    fn rule(&self) -> usize {
        match self {
            Self::Named { rule, .. } | Self::AnyBucket { rule, .. } => *rule,
        }
    }
}

fn related(a: &str, b: &str) -> bool {
    a.starts_with(b) || b.starts_with(a)
}

/// Refuses policies in which two different source objects can map to one backup key: a rule
/// that can match several buckets without `{bucket}` in its prefix, or two rules (or one
/// rule's buckets) whose backup key spaces in one backup bucket overlap.
pub fn check_distinct_backup_keys(rules: &[Rule]) -> Result<(), SharedBackupKey> {
    let mut spaces: Vec<(&str, KeySpace<'_>)> = Vec::new();
    for (index, rule) in rules.iter().enumerate() {
        let Some(backup) = &rule.backup else {
            continue;
        };
        let buckets = &rule.matcher.buckets;
        if buckets.len() != 1 && !backup.prefix.names_bucket() {
            let which = if buckets.is_empty() {
                "any bucket".to_owned()
            } else {
                format!("{} buckets", buckets.len())
            };
            return Err(SharedBackupKey {
                rule: index,
                problem: format!(
                    "the rule matches {which}, but the backup prefix {:?} does not name the source bucket, so objects with the same key in two buckets would share one backup; put {BUCKET_PLACEHOLDER}/ in the prefix (e.g. \"{}{{bucket}}/\"), or name one bucket in match.buckets",
                    backup.prefix.as_str(),
                    backup.prefix.as_str()
                ),
            });
        }
        let key_prefix = rule.matcher.prefix.as_deref().unwrap_or_default();
        if buckets.is_empty() {
            let (head, tail) = backup.prefix.split();
            let tail = tail.unwrap_or_default();
            spaces.push((
                &backup.bucket,
                KeySpace::AnyBucket {
                    rule: index,
                    head,
                    tail,
                    reach_tail: format!("{tail}{key_prefix}"),
                },
            ));
        } else {
            for bucket in buckets {
                let prefix = backup.prefix.expand(bucket).into_owned();
                let reach = format!("{prefix}{key_prefix}");
                spaces.push((
                    &backup.bucket,
                    KeySpace::Named {
                        rule: index,
                        bucket,
                        prefix,
                        reach,
                    },
                ));
            }
        }
    }
    for (i, (backup_bucket, first)) in spaces.iter().enumerate() {
        for (other_bucket, second) in &spaces[i + 1..] {
            if backup_bucket != other_bucket {
                continue;
            }
            if let Some(why) = overlap(first, second) {
                let rule = first.rule().max(second.rule());
                let names = |space: &KeySpace<'_>| rules[space.rule()].name.clone();
                return Err(SharedBackupKey {
                    rule,
                    problem: format!(
                        "backups of rule `{}` and rule `{}` can land on the same key in s3://{backup_bucket}/ ({why}); give each source its own prefix, e.g. with {BUCKET_PLACEHOLDER}/ or a distinct directory",
                        names(first),
                        names(second)
                    ),
                });
            }
        }
    }
    Ok(())
}

/// Why two key spaces can share a key, if they can.
fn overlap(a: &KeySpace<'_>, b: &KeySpace<'_>) -> Option<String> {
    match (a, b) {
        (
            KeySpace::Named {
                bucket: b1,
                prefix: p1,
                reach: r1,
                ..
            },
            KeySpace::Named {
                bucket: b2,
                prefix: p2,
                reach: r2,
                ..
            },
        ) => {
            // One bucket under one prefix maps keys one to one, whichever rule matched.
            if b1 == b2 && p1 == p2 {
                return None;
            }
            related(r1, r2).then(|| format!("{b1}'s objects go under {r1:?}, {b2}'s under {r2:?}"))
        }
        (named @ KeySpace::Named { .. }, any @ KeySpace::AnyBucket { .. })
        | (any @ KeySpace::AnyBucket { .. }, named @ KeySpace::Named { .. }) => {
            named_and_any(named, any)
        }
        (
            KeySpace::AnyBucket {
                head: h1,
                tail: t1,
                reach_tail: r1,
                ..
            },
            KeySpace::AnyBucket {
                head: h2,
                tail: t2,
                reach_tail: r2,
                ..
            },
        ) => {
            if h1 == h2 {
                // Different buckets differ before the '/' that follows the name; the same
                // bucket maps one to one under one prefix.
                if t1 == t2 || !related(r1, r2) {
                    return None;
                }
                return Some(format!(
                    "one bucket's objects go under both {h1}{{bucket}}{r1} and {h2}{{bucket}}{r2}"
                ));
            }
            related(h1, h2).then(|| {
                format!("{h1:?} and {h2:?} can begin with each other once a bucket name is put in")
            })
        }
    }
}

fn named_and_any(named: &KeySpace<'_>, any: &KeySpace<'_>) -> Option<String> {
    let (
        KeySpace::Named {
            bucket,
            prefix,
            reach,
            ..
        },
        KeySpace::AnyBucket {
            head,
            tail,
            reach_tail,
            ..
        },
    ) = (named, any)
    else {
        return None;
    };
    // The same bucket, matched by both rules.
    let own = format!("{head}{bucket}{tail}");
    let own_reach = format!("{head}{bucket}{reach_tail}");
    if own != *prefix && related(reach, &own_reach) {
        return Some(format!(
            "{bucket}'s objects go under both {reach:?} and {own_reach:?}"
        ));
    }
    // Another bucket b: head + b + reach_tail against reach.
    if head.starts_with(reach.as_str()) {
        return Some(format!(
            "{reach:?} is where every bucket's backups under {head}{{bucket}}{tail} begin"
        ));
    }
    let rest = reach.strip_prefix(*head)?;
    match rest.find('/') {
        // The segment after `head` would be read as another bucket's name.
        Some(end) => {
            let segment = &rest[..end];
            (segment != *bucket && could_be_bucket(segment) && related(&rest[end..], reach_tail))
                .then(|| {
                    format!(
                        "{reach:?} is also where the backups of a bucket named {segment:?} would go"
                    )
                })
        }
        None => (!rest.is_empty() && rest.len() < 63 && rest.chars().all(is_bucket_char)).then(
            || {
                format!(
                    "{reach:?} is also where the backups of a bucket whose name starts with {rest:?} would go"
                )
            },
        ),
    }
}

/// Characters S3 allows in bucket names.
fn is_bucket_char(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.'
}

/// Whether `text` could be a bucket's name (3 to 63 of the allowed characters).
fn could_be_bucket(text: &str) -> bool {
    (3..=63).contains(&text.len()) && text.chars().all(is_bucket_char)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::document::parse_policy;

    #[test]
    fn placeholders_are_checked() {
        assert!(BackupPrefix::parse("{bucket}/").is_ok());
        assert!(BackupPrefix::parse("backups/{bucket}/daily/").is_ok());
        assert!(BackupPrefix::parse("plain/").is_ok());
        for bad in ["{bucket}", "x-{bucket}-y/", "{bucket}/{bucket}/", "{key}/"] {
            assert!(BackupPrefix::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn keys_name_the_source_bucket() {
        let prefix = BackupPrefix::parse("b/{bucket}/").unwrap();
        assert_eq!(prefix.key_for("src", "a b.txt"), "b/src/a b.txt");
        assert!(prefix.holds("b/src/a b.txt"));
        assert!(prefix.holds("b/other/x"));
        assert!(!prefix.holds("b/src"));
        assert!(!prefix.holds("c/src/x"));
        let literal = BackupPrefix::parse("copies/").unwrap();
        assert_eq!(literal.key_for("src", "k"), "copies/k");
        assert!(literal.holds("copies/k") && !literal.holds("k"));
    }

    #[test]
    fn overlaps_with_other_prefixes_account_for_bucket_names() {
        let per_bucket = BackupPrefix::parse("{bucket}/").unwrap();
        assert!(
            !per_bucket.may_overlap("_s3pp/copy-state/"),
            "no bucket starts with _"
        );
        assert!(
            per_bucket.may_overlap("state/x/"),
            "a bucket could be named state"
        );
        assert!(per_bucket.may_overlap(""));
        let literal = BackupPrefix::parse("").unwrap();
        assert!(literal.may_overlap("_s3pp/copy-state/"));
        let nested = BackupPrefix::parse("backups/{bucket}/").unwrap();
        assert!(!nested.may_overlap("_s3pp/"));
        assert!(nested.may_overlap("backups/"));
    }

    #[test]
    fn defaults_name_the_bucket_unless_the_rule_names_one() {
        assert_eq!(BackupPrefix::default_for(&[]).as_str(), "{bucket}/");
        assert_eq!(BackupPrefix::default_for(&["a".into()]).as_str(), "");
        assert_eq!(
            BackupPrefix::default_for(&["a".into(), "b".into()]).as_str(),
            "{bucket}/"
        );
    }

    /// Policies where two sources can share a backup key are refused at parse time; the ones
    /// that cannot are accepted.
    #[test]
    fn shared_backup_keys_are_refused() {
        let refused = [
            // Any bucket, a prefix without the bucket.
            "backup: { bucket: bak, prefix: copies/ }",
            // Two named buckets without the bucket.
            "match: { buckets: [src-a, src-b] }\nbackup: { bucket: bak, prefix: x/ }",
            // Two rules, two buckets, one prefix.
            "rules:\n  - match: { buckets: [src-a] }\n    backup: bak\n  - match: { buckets: [src-b] }\n    backup: bak",
            // A named bucket's prefix that reads as another bucket's.
            "rules:\n  - match: { buckets: [src-a] }\n    backup: { bucket: bak, prefix: src-b/ }\n  - backup: bak",
            // One bucket, two rules, prefixes inside each other.
            "rules:\n  - match: { buckets: [src-a], prefix: r/ }\n    backup: { bucket: bak, prefix: \"\" }\n  - match: { buckets: [src-a] }\n    backup: { bucket: bak, prefix: r/x/ }",
            // Two any-bucket rules whose heads begin with each other.
            "rules:\n  - match: { prefix: a/ }\n    backup: { bucket: bak, prefix: \"{bucket}/\" }\n  - backup: { bucket: bak, prefix: \"x{bucket}/\" }",
        ];
        for text in refused {
            let err = parse_policy(text).expect_err(text);
            assert!(err.to_string().contains("backup"), "{text}: {err}");
        }
        let accepted = [
            "backup: bak",
            "backup: { bucket: bak, prefix: \"daily/{bucket}/\" }",
            "match: { buckets: [src-a] }\nbackup: bak",
            "match: { buckets: [src-a, src-b] }\nbackup: bak",
            "rules:\n  - match: { buckets: [src-a] }\n    backup: { bucket: bak, prefix: a/ }\n  - match: { buckets: [src-b] }\n    backup: { bucket: bak, prefix: b/ }",
            // Two rules over one bucket under one prefix map keys one to one.
            "rules:\n  - match: { buckets: [src-a], prefix: r/ }\n    backup: bak\n  - match: { buckets: [src-a] }\n    backup: bak",
            // Disjoint reaches in one bucket.
            "rules:\n  - match: { buckets: [src-a], prefix: reports/ }\n    backup: bak\n  - match: { buckets: [src-a] }\n    backup: { bucket: bak, prefix: other/ }",
            // Any bucket beside a named one under a different head.
            "rules:\n  - match: { buckets: [src-a] }\n    backup: { bucket: bak, prefix: named/ }\n  - backup: { bucket: bak, prefix: \"any/{bucket}/\" }",
            // The same layout for a named bucket and any bucket.
            "rules:\n  - match: { buckets: [src-a], prefix: r/ }\n    backup: { bucket: bak, prefix: \"{bucket}/\" }\n  - backup: bak",
            // Different backup buckets never collide.
            "rules:\n  - match: { buckets: [src-a] }\n    backup: bak-one\n  - match: { buckets: [src-b] }\n    backup: bak-two",
        ];
        for text in accepted {
            parse_policy(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        }
    }
}
