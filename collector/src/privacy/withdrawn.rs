//! Browser keys withdrawn in the privacy center (`leads::center`), asked by the pipeline.

use std::collections::HashSet;
use std::sync::RwLock;

/// Browser keys whose person withdrew marketing consent in the privacy center. The pipeline
/// asks it for every marketing beacon: such a browser still holds its id (the center runs on
/// the collector's origin and cannot delete it), so its beacons are taken as analytics-only.
#[derive(Default)]
pub struct WithdrawnKeys(RwLock<HashSet<String>>);

impl WithdrawnKeys {
    pub fn contains(&self, key: &str) -> bool {
        self.0
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .contains(key)
    }

    pub fn insert(&self, keys: impl IntoIterator<Item = String>) {
        self.0
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .extend(keys);
    }

    pub fn remove(&self, key: &str) {
        self.0
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
    }

    pub fn replace(&self, keys: HashSet<String>) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = keys;
    }
}
