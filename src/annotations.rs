//! What is known of an object's annotations: the named payloads (up to 1,000 of up to 1 MiB)
//! S3 keeps beside an object version. A single CopyObject copies them (the default
//! `x-amz-object-annotation-directive: COPY`); a multipart copy does not. HEAD does not report
//! them, and a listing the role may not make tells nothing: as with `x-amz-tagging-count`,
//! silence is never read as "none".

/// What is known of one object version's annotations.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Annotations {
    /// Not read, because nothing depends on them: every copy the plan can make of the object is
    /// a single CopyObject (which carries them), or the server keeps no annotations.
    #[default]
    NotRead,
    /// Listed: the annotations' names (empty when the object has none).
    Listed(Vec<String>),
    /// The listing was refused or failed, saying why: they may exist.
    Unknown(String),
}

impl Annotations {
    /// Whether the object is known to carry at least one annotation.
    pub fn any(&self) -> bool {
        matches!(self, Self::Listed(names) if !names.is_empty())
    }

    /// Whether a copy that does not carry annotations may lose some: the object has some, or
    /// it cannot be told.
    pub fn may_be_lost_by_a_plain_copy(&self) -> bool {
        self.any() || matches!(self, Self::Unknown(_))
    }

    /// The names listed here that `other` (a listing) lacks; `None` when `other` is not a
    /// listing.
    pub fn missing_from(&self, other: &Self) -> Option<Vec<String>> {
        let Self::Listed(theirs) = other else {
            return None;
        };
        let Self::Listed(ours) = self else {
            return Some(Vec::new());
        };
        Some(
            ours.iter()
                .filter(|name| !theirs.contains(name))
                .cloned()
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listed(names: &[&str]) -> Annotations {
        Annotations::Listed(names.iter().map(|n| (*n).to_owned()).collect())
    }

    #[test]
    fn only_a_listing_says_none() {
        assert!(!listed(&[]).may_be_lost_by_a_plain_copy());
        assert!(!Annotations::NotRead.may_be_lost_by_a_plain_copy());
        assert!(listed(&["a"]).may_be_lost_by_a_plain_copy());
        assert!(Annotations::Unknown("AccessDenied".into()).may_be_lost_by_a_plain_copy());
    }

    #[test]
    fn missing_names_are_those_the_other_listing_lacks() {
        let source = listed(&["a", "b"]);
        assert_eq!(
            source.missing_from(&listed(&["b"])),
            Some(vec!["a".to_owned()])
        );
        assert_eq!(source.missing_from(&listed(&["a", "b", "c"])), Some(vec![]));
        assert_eq!(
            source.missing_from(&Annotations::Unknown("denied".into())),
            None
        );
    }
}
