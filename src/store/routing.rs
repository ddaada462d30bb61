//! Which S3 client serves which bucket. A bucket lives in one region, and S3 answers a request
//! signed for another region with `301 PermanentRedirect` and `x-amz-bucket-region`, which
//! aws-sdk-rust does not follow. So each bucket's region is learned once — from the policy
//! (`backup.region`), from HeadBucket, or from that header on a redirect — and kept for the
//! life of the instance; each region gets one client, built on first use and reused. Buckets
//! the policy names an owner for (`backup.expected_owner`) have every request carry
//! `ExpectedBucketOwner`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};

use aws_sdk_s3::Client;
use aws_sdk_s3::config::Region;

use crate::policy::Policy;

/// What the policy says about buckets other than by their names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BucketSettings {
    /// Known regions, so no discovery is needed for them.
    pub regions: HashMap<String, String>,
    /// Account ids that must own the bucket (`ExpectedBucketOwner`).
    pub owners: HashMap<String, String>,
}

impl BucketSettings {
    /// The regions and owners the policy's backups name.
    pub fn from_policy(policy: &Policy) -> Self {
        let mut settings = Self::default();
        for backup in policy.rules.iter().filter_map(|r| r.backup.as_ref()) {
            if let Some(region) = &backup.region {
                settings
                    .regions
                    .insert(backup.bucket.clone(), region.clone());
            }
            if let Some(owner) = &backup.expected_owner {
                settings.owners.insert(backup.bucket.clone(), owner.clone());
            }
        }
        settings
    }
}

/// Bucket → region → client, learned as requests go.
#[derive(Debug)]
pub struct Routing {
    default: Client,
    regions: Mutex<HashMap<String, String>>,
    clients: Mutex<HashMap<String, Client>>,
    owners: HashMap<String, String>,
    redirects: AtomicUsize,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Routing {
    /// Routes through `default` (the function's own region) until a bucket is known to be
    /// elsewhere.
    pub fn new(default: Client, settings: BucketSettings) -> Self {
        Self {
            default,
            regions: Mutex::new(settings.regions),
            clients: Mutex::new(HashMap::new()),
            owners: settings.owners,
            redirects: AtomicUsize::new(0),
        }
    }

    /// The region of the default client, if it has one.
    pub fn default_region(&self) -> Option<String> {
        self.default
            .config()
            .region()
            .map(|r| r.as_ref().to_owned())
    }

    /// The client for `bucket`'s region (the default client while its region is unknown or
    /// the default one).
    pub fn client(&self, bucket: &str) -> Client {
        let Some(region) = lock(&self.regions).get(bucket).cloned() else {
            return self.default.clone();
        };
        if Some(&region) == self.default_region().as_ref() {
            return self.default.clone();
        }
        lock(&self.clients)
            .entry(region.clone())
            .or_insert_with(|| {
                tracing::info!(region, "S3 client for another region");
                let config = self
                    .default
                    .config()
                    .to_builder()
                    .region(Region::new(region))
                    .build();
                Client::from_conf(config)
            })
            .clone()
    }

    /// Records that `bucket` is in `region`; false when that was already known (so a retry
    /// would go to the same place and fail the same way).
    pub fn learn(&self, bucket: &str, region: &str) -> bool {
        let mut regions = lock(&self.regions);
        let known = regions
            .get(bucket)
            .cloned()
            .or_else(|| self.default_region());
        if known.as_deref() == Some(region) {
            return false;
        }
        tracing::info!(bucket, region, "bucket is in another region");
        regions.insert(bucket.to_owned(), region.to_owned());
        self.redirects.fetch_add(1, Ordering::Relaxed);
        true
    }

    /// The region known for `bucket`, if any.
    pub fn region_of(&self, bucket: &str) -> Option<String> {
        lock(&self.regions).get(bucket).cloned()
    }

    /// The account that must own `bucket`, if the policy names one.
    pub fn owner(&self, bucket: &str) -> Option<String> {
        self.owners.get(bucket).cloned()
    }

    /// How many buckets were found in another region by a redirect (each costs one failed
    /// request, once per instance).
    pub fn redirects(&self) -> usize {
        self.redirects.load(Ordering::Relaxed)
    }
}
