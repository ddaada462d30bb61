//! What the deployment's role may do beyond the actions every policy needs, as the template
//! says it in `S3_OPTIONAL_ACTIONS` (`acl` for `remove_public_acl`, `restore` for `restore`;
//! comma-separated, empty for neither; unset: not known, so not checked). A policy that needs
//! an action the role lacks is refused at cold start, naming the rule and the parameter that
//! grants it, instead of failing every such object with AccessDenied.

use crate::policy::Policy;

/// The variable the template sets.
pub const VARIABLE: &str = "S3_OPTIONAL_ACTIONS";

/// Why the policy cannot run with this role.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum OptionalActionsError {
    /// The variable names something that is not an optional action.
    #[error(
        "{VARIABLE}={value:?}: unknown action {action:?}; expected a comma-separated list of acl, restore"
    )]
    Unknown {
        /// The variable's value.
        value: String,
        /// The entry not understood.
        action: String,
    },
    /// A rule needs an action the role was not given.
    #[error(
        "rule {rule:?} sets {field}, but the function's role may not ({VARIABLE} lacks {action}); redeploy with {parameter}=true, or remove {field} from the rule"
    )]
    NotGranted {
        /// The rule.
        rule: String,
        /// The policy field that needs the action.
        field: &'static str,
        /// The optional action.
        action: &'static str,
        /// The template parameter that grants it.
        parameter: &'static str,
    },
}

/// The optional actions, with the policy field needing each and the parameter granting it.
const ACTIONS: [(&str, &str, &str); 2] = [
    ("acl", "remove_public_acl", "AllowPublicAclRemoval"),
    ("restore", "restore", "AllowRestores"),
];

/// Checks `policy` against the variable's value (`None`: unset, nothing to check).
pub fn check(value: Option<&str>, policy: &Policy) -> Result<(), OptionalActionsError> {
    let Some(value) = value else {
        return Ok(());
    };
    let granted: Vec<&str> = value
        .split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .collect();
    if let Some(unknown) = granted
        .iter()
        .find(|a| !ACTIONS.iter().any(|(name, _, _)| name == *a))
    {
        return Err(OptionalActionsError::Unknown {
            value: value.to_owned(),
            action: (*unknown).to_owned(),
        });
    }
    for rule in &policy.rules {
        for (action, field, parameter) in ACTIONS {
            let needs = match action {
                "acl" => rule.remove_public_acl,
                _ => rule.restore.is_some(),
            };
            if needs && !granted.contains(&action) {
                return Err(OptionalActionsError::NotGranted {
                    rule: rule.name.clone(),
                    field,
                    action,
                    parameter,
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::document::parse_policy;

    fn policy(text: &str) -> Policy {
        parse_policy(text).expect("policy")
    }

    #[test]
    fn a_policy_needing_what_the_role_lacks_is_refused_with_the_parameter() {
        let acl = policy("rules:\n  - name: tidy\n    remove_public_acl: true");
        let err = check(Some(""), &acl).expect_err("refused");
        assert_eq!(
            err.to_string(),
            "rule \"tidy\" sets remove_public_acl, but the function's role may not (S3_OPTIONAL_ACTIONS lacks acl); redeploy with AllowPublicAclRemoval=true, or remove remove_public_acl from the rule"
        );
        assert_eq!(check(Some("acl,"), &acl), Ok(()));
        let restore =
            policy("rules:\n  - name: thaw\n    tags: { a: b }\n    restore: { days: 2 }");
        let err = check(Some("acl,"), &restore).expect_err("refused");
        assert!(err.to_string().contains("AllowRestores=true"), "{err}");
        assert_eq!(check(Some("acl,restore,"), &restore), Ok(()));
    }

    #[test]
    fn unset_checks_nothing_and_unknown_entries_are_named() {
        let acl = policy("rules:\n  - name: tidy\n    remove_public_acl: true");
        assert_eq!(check(None, &acl), Ok(()));
        let err = check(Some("acl,tags"), &acl).expect_err("unknown");
        assert!(err.to_string().contains("unknown action \"tags\""), "{err}");
    }

    #[test]
    fn a_policy_needing_neither_runs_with_neither() {
        let plain = policy("rules:\n  - name: p\n    tags: { a: b }");
        assert_eq!(check(Some(""), &plain), Ok(()));
    }
}
