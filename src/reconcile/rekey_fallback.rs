//! When S3 refuses UpdateObjectEncryption, the object is re-keyed by copying instead: an
//! object never fails because the faster path is missing. A server that does not implement the
//! operation (`NotImplemented`, 405, 501) is remembered per bucket for the instance, so the
//! next object does not try again; a refusal of this object (`InvalidRequest`: a source or
//! target the operation does not support; `AccessDenied`: a key owned by another account, or a
//! role without `s3:UpdateObjectEncryption`) falls back for this object only.

use crate::apply::ApplyError;
use crate::apply::copy::CopyError;
use crate::store::StoreError;
use crate::store::bucket_facts::BucketFacts;

/// Whether `err`, from applying a plan, is S3 refusing its UpdateObjectEncryption in a way the
/// copy path can do instead; remembers a server that lacks the operation.
pub(super) fn falls_back(err: &ApplyError, bucket: &str, facts: &BucketFacts) -> bool {
    if err.step != "update_encryption" {
        return false;
    }
    let CopyError::Store(StoreError::Service { code, status, .. }) = &err.source else {
        return false;
    };
    let not_implemented = matches!(*status, 405 | 501)
        || matches!(code.as_str(), "NotImplemented" | "MethodNotAllowed");
    if not_implemented {
        facts.learn_lacks_update_encryption(bucket);
        return true;
    }
    matches!(
        code.as_str(),
        "InvalidRequest" | "AccessDenied" | "InvalidArgument"
    )
}
