//! The properties of an event as the history keeps it: sorted name–value pairs in one
//! allocation. A `BTreeMap` (serde_json's `Map`) spends a node of eleven slots on every
//! stored event, whatever it holds — most of a simulated contact's memory went there.
//! Stored and read as the same JSON object as before.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

/// Looking a property up by name: what conditions ask of an event, stored or arriving.
pub trait Props {
    fn prop(&self, name: &str) -> Option<&Value>;
}

impl Props for Map<String, Value> {
    fn prop(&self, name: &str) -> Option<&Value> {
        self.get(name)
    }
}

/// A stored event's properties, sorted by name (one of each).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StoredProps(Box<[(Box<str>, Value)]>);

impl StoredProps {
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.0
            .binary_search_by(|(key, _)| key.as_ref().cmp(name))
            .ok()
            .map(|at| &self.0[at].1)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.0.iter().map(|(k, v)| (k.as_ref(), v))
    }
}

/// `props["name"]`, as on a JSON object: `null` when absent.
impl std::ops::Index<&str> for StoredProps {
    type Output = Value;
    fn index(&self, name: &str) -> &Value {
        static NULL: Value = Value::Null;
        self.get(name).unwrap_or(&NULL)
    }
}

impl Props for StoredProps {
    fn prop(&self, name: &str) -> Option<&Value> {
        self.get(name)
    }
}

impl FromIterator<(String, Value)> for StoredProps {
    /// Sorted by name; of a name given twice, the last.
    fn from_iter<I: IntoIterator<Item = (String, Value)>>(pairs: I) -> StoredProps {
        let mut pairs: Vec<(Box<str>, Value)> = pairs
            .into_iter()
            .map(|(k, v)| (k.into_boxed_str(), v))
            .collect();
        pairs.reverse();
        pairs.sort_by(|a, b| a.0.cmp(&b.0));
        pairs.dedup_by(|later, earlier| later.0 == earlier.0);
        StoredProps(pairs.into_boxed_slice())
    }
}

impl From<&StoredProps> for Map<String, Value> {
    fn from(props: &StoredProps) -> Map<String, Value> {
        props
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }
}

impl Serialize for StoredProps {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.iter())
    }
}

impl<'de> Deserialize<'de> for StoredProps {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<StoredProps, D::Error> {
        Ok(Map::<String, Value>::deserialize(d)?.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorted_found_and_read_back_as_the_same_json_object() {
        let props: StoredProps = [
            ("sku".to_string(), Value::from("A1")),
            ("amount".to_string(), Value::from(10)),
            ("sku".to_string(), Value::from("B2")),
        ]
        .into_iter()
        .collect();
        assert_eq!(props.len(), 2);
        assert_eq!(
            props.get("sku"),
            Some(&Value::from("B2")),
            "the last of a name"
        );
        assert_eq!(props.get("amount"), Some(&Value::from(10)));
        assert_eq!(props.get("missing"), None);
        let json = serde_json::to_string(&props).unwrap();
        assert_eq!(json, r#"{"amount":10,"sku":"B2"}"#);
        let back: StoredProps = serde_json::from_str(&json).unwrap();
        assert_eq!(back, props);
    }
}
